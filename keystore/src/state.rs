//! The in-memory view of the committed state, and the planning of changes to it.
//!
//! Reads (every cryptographic operation included) run against [`State`] alone: no disk, no
//! network. A write is planned against the state into a list of [`Change`]s, persisted, and
//! only then applied here, so memory never shows what the disk does not have.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use minkms_policies::Policy;
use zeroize::Zeroizing;

use crate::aead::hmac_sha256;
use crate::model::{
    EnclaveRecord, IdentityRecord, Key, KeyRecord, KeyVersion, PolicyRecord, Versions,
};
use crate::names::{validate_identity, validate_name, NameKind};
use crate::wrapping::{WrappingKeyInfo, WrappingKeyRecord};
use crate::{
    Ciphertext, Command, EnclaveInfo, Error, IdentityInfo, KeyInfo, KeyMaterial, OaepHash,
    PolicyInfo, Principal, Privilege,
};

/// Largest data key `KEY:GENERATE` hands out, in bytes.
pub const MAX_DATA_KEY_LEN: usize = 1024;
/// Most items one list call returns (also the default for limit 0).
pub const MAX_LIST_LIMIT: usize = 1000;

/// A data key from `KEY:GENERATE`: its plaintext (zeroized on drop) and its ciphertext.
#[derive(Debug, Default)]
pub struct DataKey {
    /// The key version that encrypted it.
    pub version: u32,
    /// The data key.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The data key encrypted under the master key.
    pub ciphertext: Vec<u8>,
}

/// One page of a listing. `continue_at` is the name to continue at, or "" at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in name order.
    pub items: Vec<T>,
    /// Where the next page starts; "" when there is none.
    pub continue_at: String,
}

#[derive(Debug, Clone)]
struct Enclave {
    record: EnclaveRecord,
    /// The names are boxed (no spare capacity): with millions of keys every byte counts.
    keys: BTreeMap<Box<str>, Key>,
    identities: BTreeMap<String, IdentityRecord>,
    policies: BTreeMap<String, (PolicyRecord, Arc<Policy>)>,
    /// The import wrapping key, once asked for.
    wrapping: Option<WrappingKeyRecord>,
}

/// A change to one record; the unit both storage and memory apply.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    PutEnclave(EnclaveRecord),
    DelEnclave(String),
    PutKey(String, KeyRecord),
    DelKey(String, String),
    PutIdentity(String, IdentityRecord),
    DelIdentity(String, String),
    PutPolicy(String, PolicyRecord),
    DelPolicy(String, String),
    PutWrappingKey(String, WrappingKeyRecord),
    DelWrappingKey(String),
}

/// The committed state of a node.
#[derive(Debug, Default)]
pub struct State {
    enclaves: BTreeMap<String, Enclave>,
    /// Identity → the enclave it lives in (every identity lives in one): KES requests name no
    /// enclave, and identity creation checks the rule, without a scan of every enclave.
    owners: std::collections::HashMap<String, String>,
}

impl State {
    fn enclave(&self, name: &str) -> Result<&Enclave, Error> {
        self.enclaves.get(name).ok_or(Error::EnclaveNotFound)
    }

    pub(crate) fn key_version(
        &self,
        enclave: &str,
        name: &str,
        version: u32,
    ) -> Result<&KeyVersion, Error> {
        let key = self
            .enclave(enclave)?
            .keys
            .get(name)
            .ok_or(Error::KeyNotFound)?;
        let found = if version == 0 {
            key.versions.latest()
        } else {
            key.versions.get(version)
        };
        found.ok_or(Error::KeyNotFound)
    }

    // ---- import wrapping keys ----------------------------------------------------------------

    /// The enclave's import wrapping key, or `None` before it is first asked for.
    pub fn wrapping_key(&self, enclave: &str) -> Result<Option<WrappingKeyInfo>, Error> {
        Ok(self
            .enclave(enclave)?
            .wrapping
            .as_ref()
            .map(|r| WrappingKeyInfo {
                public_key: r.public_key.clone(),
                created_at: r.created_at,
                created_by: r.created_by.clone(),
            }))
    }

    /// Opens key material wrapped for the enclave's wrapping key (see `wrapping`).
    pub fn unwrap_import(
        &self,
        enclave: &str,
        wrapped: &[u8],
        hash: OaepHash,
    ) -> Result<KeyMaterial, Error> {
        let record = self.enclave(enclave)?.wrapping.as_ref().ok_or_else(|| {
            Error::Invalid(
                "invalid wrapped key: the enclave has no wrapping key yet; fetch its public key with 'minkms wrapping-key' and wrap the key material for it".into(),
            )
        })?;
        record.private_key.unwrap(wrapped, hash)
    }

    // ---- enclaves ------------------------------------------------------------------------

    /// Status of one enclave.
    pub fn enclave_info(&self, name: &str) -> Result<EnclaveInfo, Error> {
        Ok(enclave_info(&self.enclave(name)?.record))
    }

    /// Enclaves whose name starts with `prefix`, from `continue_at` on.
    pub fn list_enclaves(
        &self,
        prefix: &str,
        continue_at: &str,
        limit: usize,
    ) -> Page<EnclaveInfo> {
        page(
            &self.enclaves,
            prefix,
            continue_at,
            limit,
            |_| true,
            |_, e| vec![enclave_info(&e.record)],
        )
    }

    /// Every enclave with its number of keys.
    pub fn enclave_key_counts(&self) -> Vec<(String, usize)> {
        self.enclaves
            .iter()
            .map(|(name, e)| (name.clone(), e.keys.len()))
            .collect()
    }

    /// Number of enclaves.
    pub fn enclave_count(&self) -> usize {
        self.enclaves.len()
    }

    // ---- keys ----------------------------------------------------------------------------

    /// Status of a key version (0 = latest).
    pub fn key_info(&self, enclave: &str, name: &str, version: u32) -> Result<KeyInfo, Error> {
        Ok(key_info(name, self.key_version(enclave, name, version)?))
    }

    /// Keys (their latest version) whose name starts with `prefix` and passes `visible`.
    pub fn list_keys(
        &self,
        enclave: &str,
        prefix: &str,
        continue_at: &str,
        limit: usize,
        visible: impl Fn(&str) -> bool,
    ) -> Result<Page<KeyInfo>, Error> {
        let keys = &self.enclave(enclave)?.keys;
        Ok(page(
            keys,
            prefix,
            continue_at,
            limit,
            visible,
            |name, k| {
                k.versions
                    .latest()
                    .map(|v| key_info(name, v))
                    .into_iter()
                    .collect()
            },
        ))
    }

    /// Every version of one key, oldest first.
    pub fn key_versions(&self, enclave: &str, name: &str) -> Result<Vec<KeyInfo>, Error> {
        let key = self
            .enclave(enclave)?
            .keys
            .get(name)
            .ok_or(Error::KeyNotFound)?;
        Ok(key.versions.iter().map(|v| key_info(name, v)).collect())
    }

    /// Decrypts. With `version` 0 the version comes from the ciphertext; KES's untagged format
    /// is tried against imported versions (newest first) when the tagged form does not open.
    pub fn decrypt(
        &self,
        enclave: &str,
        name: &str,
        version: u32,
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let key = self
            .enclave(enclave)?
            .keys
            .get(name)
            .ok_or(Error::KeyNotFound)?;
        if let Some(tagged) = Ciphertext::version_of(ciphertext) {
            if version == 0 || version == tagged {
                if let Some(v) = key.versions.get(tagged) {
                    if let Ok(pt) = Ciphertext::open(v.kind, v.key(), ciphertext, aad) {
                        return Ok(pt);
                    }
                }
            }
        }
        let candidates = key
            .versions
            .iter()
            .rev()
            .filter(|v| v.imported && (version == 0 || version == v.version));
        for v in candidates {
            if let Ok(pt) = Ciphertext::open_kes(v.kind, v.key(), ciphertext, aad) {
                return Ok(pt);
            }
        }
        if version != 0 && !key.versions.contains(version) {
            return Err(Error::KeyNotFound);
        }
        Err(Error::InvalidCiphertext)
    }

    /// HMAC-SHA256 of `message` under a MAC key derived from the key version's material.
    pub fn mac(
        &self,
        enclave: &str,
        name: &str,
        version: u32,
        message: &[u8],
    ) -> Result<(u32, [u8; 32]), Error> {
        let v = self.key_version(enclave, name, version)?;
        let mac_key = Zeroizing::new(hmac_sha256(
            v.material.bytes(),
            &[minkms_hsm::labels::KEY_MAC],
        ));
        Ok((v.version, hmac_sha256(mac_key.as_ref(), &[message])))
    }

    /// Number of keys in an enclave.
    pub fn key_count(&self, enclave: &str) -> Result<usize, Error> {
        Ok(self.enclave(enclave)?.keys.len())
    }

    // ---- policies ------------------------------------------------------------------------

    /// One policy.
    pub fn policy_info(&self, enclave: &str, name: &str) -> Result<PolicyInfo, Error> {
        let (r, p) = self
            .enclave(enclave)?
            .policies
            .get(name)
            .ok_or(Error::PolicyNotFound)?;
        Ok(policy_info(r, p))
    }

    /// Policies whose name starts with `prefix` and passes `visible`.
    pub fn list_policies(
        &self,
        enclave: &str,
        prefix: &str,
        continue_at: &str,
        limit: usize,
        visible: impl Fn(&str) -> bool,
    ) -> Result<Page<PolicyInfo>, Error> {
        let policies = &self.enclave(enclave)?.policies;
        Ok(page(
            policies,
            prefix,
            continue_at,
            limit,
            visible,
            |_, (r, p)| vec![policy_info(r, p)],
        ))
    }

    // ---- identities ----------------------------------------------------------------------

    /// One identity.
    pub fn identity_info(&self, enclave: &str, identity: &str) -> Result<IdentityInfo, Error> {
        let e = self.enclave(enclave)?;
        let r = e.identities.get(identity).ok_or(Error::IdentityNotFound)?;
        Ok(identity_info(e, r))
    }

    /// Identities starting with `prefix` and passing `visible`.
    pub fn list_identities(
        &self,
        enclave: &str,
        prefix: &str,
        continue_at: &str,
        limit: usize,
        visible: impl Fn(&str) -> bool,
    ) -> Result<Page<IdentityInfo>, Error> {
        let e = self.enclave(enclave)?;
        Ok(page(
            &e.identities,
            prefix,
            continue_at,
            limit,
            visible,
            |_, r| vec![identity_info(e, r)],
        ))
    }

    /// The enclave `identity` belongs to (every identity but the root's lives in one): where
    /// a protocol that names no enclave, KES's, lets it act.
    pub fn enclave_of(&self, identity: &str) -> Option<&str> {
        self.owners.get(identity).map(String::as_str)
    }

    /// What `identity` may do in `enclave`: `Ok(None)` if it is not an identity there. A
    /// service account acts with its parent's privilege and policy.
    pub fn principal(&self, enclave: &str, identity: &str) -> Result<Option<Principal>, Error> {
        let e = self.enclave(enclave)?;
        let Some(mut r) = e.identities.get(identity) else {
            return Ok(None);
        };
        if !r.parent.is_empty() {
            match e.identities.get(&r.parent) {
                Some(parent) => r = parent,
                None => return Ok(None),
            }
        }
        let policy = e.policies.get(&r.policy).map(|(_, p)| p.clone());
        Ok(Some(Principal {
            privilege: r.privilege,
            policy,
        }))
    }

    // ---- planning and applying writes ----------------------------------------------------

    /// The rules an identity must meet to be created or replaced in `enclave`: a valid `h1:`,
    /// not SysAdmin, a service account only under an ordinary identity, one enclave only.
    fn check_new_identity(
        &self,
        enclave: &str,
        identity: &str,
        privilege: Privilege,
        parent: &str,
    ) -> Result<(), Error> {
        validate_identity(identity)?;
        let e = self.enclave(enclave)?;
        if privilege == Privilege::SysAdmin {
            return Err(Error::Invalid(
                "invalid privilege 'SysAdmin': must be Admin or User".into(),
            ));
        }
        if !parent.is_empty() {
            // Service accounts hang off ordinary identities, one level deep: they
            // act with their parent's rights, so a chain would hide whose rights.
            let p = e.identities.get(parent).ok_or(Error::IdentityNotFound)?;
            if !p.parent.is_empty() {
                return Err(Error::Invalid(
                    "invalid request: a service account cannot have service accounts".into(),
                ));
            }
            if parent == identity {
                return Err(Error::Invalid(
                    "invalid identity: an identity cannot be its own service account".into(),
                ));
            }
            if e.identities.values().any(|r| r.parent == identity) {
                return Err(Error::Invalid("invalid identity: an identity with service accounts cannot become a service account".into()));
            }
        }
        if self
            .enclave_of(identity)
            .is_some_and(|owner| owner != enclave)
        {
            // Every identity lives in exactly one enclave (API.md §4.3).
            return Err(Error::Invalid(
                "invalid identity: it belongs to another enclave".into(),
            ));
        }
        Ok(())
    }

    /// Everything deleting enclave `name` deletes: its keys, identities and policies, then it.
    fn enclave_removal(&self, name: &str) -> Result<Vec<Change>, Error> {
        let e = self.enclave(name)?;
        let mut changes: Vec<Change> = Vec::new();
        changes.extend(
            e.keys
                .keys()
                .map(|k| Change::DelKey(name.to_string(), k.to_string())),
        );
        changes.extend(
            e.identities
                .keys()
                .map(|i| Change::DelIdentity(name.to_string(), i.clone())),
        );
        changes.extend(
            e.policies
                .keys()
                .map(|p| Change::DelPolicy(name.to_string(), p.clone())),
        );
        if e.wrapping.is_some() {
            changes.push(Change::DelWrappingKey(name.to_string()));
        }
        changes.push(Change::DelEnclave(name.to_string()));
        Ok(changes)
    }

    /// Checks `cmd` against the state and turns it into record changes. Changes nothing.
    pub(crate) fn plan(&self, cmd: &Command) -> Result<Vec<Change>, Error> {
        Ok(match cmd {
            Command::CreateEnclave { name, at, by } => {
                validate_name(NameKind::Enclave, name)?;
                if self.enclaves.contains_key(name) {
                    return Err(Error::EnclaveExists);
                }
                vec![Change::PutEnclave(EnclaveRecord {
                    name: name.clone(),
                    created_at: *at,
                    created_by: by.clone(),
                })]
            }
            Command::DeleteEnclave { name } => self.enclave_removal(name)?,
            Command::CreateKey {
                enclave,
                name,
                kind,
                material,
                add_version,
                imported,
                at,
                by,
            } => {
                validate_name(NameKind::Key, name)?;
                let e = self.enclave(enclave)?;
                let mut record = match e.keys.get(name.as_str()) {
                    Some(_) if !add_version => return Err(Error::KeyExists),
                    Some(existing) => existing.record(name),
                    None => KeyRecord {
                        name: name.clone(),
                        next_version: 1,
                        versions: Versions::default(),
                    },
                };
                let version = record.next_version;
                record.next_version = version
                    .checked_add(1)
                    .ok_or_else(|| Error::Invalid("key has too many versions".into()))?;
                record.versions.insert(KeyVersion {
                    version,
                    kind: *kind,
                    material: material.clone(),
                    imported: *imported,
                    created_at: *at,
                    created_by: crate::model::shared_creator(by),
                    mac: Default::default(),
                });
                vec![Change::PutKey(enclave.clone(), record)]
            }
            Command::DeleteKey {
                enclave,
                name,
                version,
                all,
            } => {
                if *all && *version != 0 {
                    return Err(Error::Invalid(
                        "invalid request: a version and all versions cannot be deleted at once"
                            .into(),
                    ));
                }
                let key = self
                    .enclave(enclave)?
                    .keys
                    .get(name.as_str())
                    .ok_or(Error::KeyNotFound)?;
                let target = if *version == 0 {
                    key.versions.latest().map(|v| v.version)
                } else {
                    Some(*version)
                };
                let mut record = key.record(name);
                if !*all {
                    let target = target
                        .filter(|t| record.versions.contains(*t))
                        .ok_or(Error::KeyNotFound)?;
                    record.versions.remove(target);
                }
                if *all || record.versions.is_empty() {
                    vec![Change::DelKey(enclave.clone(), name.clone())]
                } else {
                    vec![Change::PutKey(enclave.clone(), record)]
                }
            }
            Command::CreatePolicy {
                enclave,
                name,
                policy_json,
                at,
                by,
            } => {
                validate_name(NameKind::Policy, name)?;
                self.enclave(enclave)?;
                Policy::from_normalized_json(policy_json.as_bytes())
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                vec![Change::PutPolicy(
                    enclave.clone(),
                    PolicyRecord {
                        name: name.clone(),
                        policy_json: policy_json.clone(),
                        created_at: *at,
                        created_by: by.clone(),
                    },
                )]
            }
            Command::DeletePolicy { enclave, name } => {
                let e = self.enclave(enclave)?;
                if !e.policies.contains_key(name) {
                    return Err(Error::PolicyNotFound);
                }
                // Unassign it, so a later policy of the same name is not granted silently.
                let mut changes: Vec<Change> = e
                    .identities
                    .values()
                    .filter(|r| &r.policy == name)
                    .map(|r| {
                        let mut r = r.clone();
                        r.policy.clear();
                        Change::PutIdentity(enclave.clone(), r)
                    })
                    .collect();
                changes.push(Change::DelPolicy(enclave.clone(), name.clone()));
                changes
            }
            Command::AssignPolicy {
                enclave,
                identity,
                policy,
            } => {
                let e = self.enclave(enclave)?;
                let mut record = e
                    .identities
                    .get(identity)
                    .ok_or(Error::IdentityNotFound)?
                    .clone();
                if !e.policies.contains_key(policy) {
                    return Err(Error::PolicyNotFound);
                }
                if record.privilege != Privilege::User || !record.parent.is_empty() {
                    return Err(Error::Invalid("policies can only be assigned to identities with privilege User that are not service accounts".into()));
                }
                record.policy = policy.clone();
                vec![Change::PutIdentity(enclave.clone(), record)]
            }
            Command::CreateIdentity {
                enclave,
                identity,
                privilege,
                parent,
                tags,
                at,
                by,
            } => {
                self.check_new_identity(enclave, identity, *privilege, parent)?;
                let e = self.enclave(enclave)?;
                let policy = e
                    .identities
                    .get(identity)
                    .map(|r| r.policy.clone())
                    .unwrap_or_default();
                vec![Change::PutIdentity(
                    enclave.clone(),
                    IdentityRecord {
                        identity: identity.clone(),
                        privilege: *privilege,
                        // Admins and service accounts (who act with their parent's policy) hold none.
                        policy: if *privilege == Privilege::User && parent.is_empty() {
                            policy
                        } else {
                            String::new()
                        },
                        parent: parent.clone(),
                        tags: tags.clone(),
                        created_at: *at,
                        created_by: by.clone(),
                    },
                )]
            }
            Command::DeleteIdentity { enclave, identity } => {
                let e = self.enclave(enclave)?;
                if !e.identities.contains_key(identity) {
                    return Err(Error::IdentityNotFound);
                }
                let mut changes: Vec<Change> = e
                    .identities
                    .values()
                    .filter(|r| &r.parent == identity)
                    .map(|r| Change::DelIdentity(enclave.clone(), r.identity.clone()))
                    .collect();
                changes.push(Change::DelIdentity(enclave.clone(), identity.clone()));
                changes
            }
            Command::CreateWrappingKey {
                enclave,
                private_key,
                at,
                by,
            } => {
                if self.enclave(enclave)?.wrapping.is_some() {
                    return Ok(Vec::new());
                }
                vec![Change::PutWrappingKey(
                    enclave.clone(),
                    WrappingKeyRecord {
                        public_key: private_key.public_key_der()?,
                        private_key: private_key.clone(),
                        created_at: *at,
                        created_by: by.clone(),
                    },
                )]
            }
        })
    }

    /// Applies persisted changes to memory.
    pub(crate) fn apply(&mut self, changes: Vec<Change>) {
        for change in changes {
            self.apply_one(change);
        }
    }

    fn apply_one(&mut self, change: Change) {
        match change {
            Change::PutEnclave(r) => {
                self.enclaves.insert(
                    r.name.clone(),
                    Enclave {
                        record: r,
                        keys: BTreeMap::new(),
                        identities: BTreeMap::new(),
                        policies: BTreeMap::new(),
                        wrapping: None,
                    },
                );
            }
            Change::DelEnclave(name) => {
                if let Some(e) = self.enclaves.remove(&name) {
                    for identity in e.identities.keys() {
                        self.owners.remove(identity);
                    }
                }
            }
            Change::PutKey(e, r) => {
                if let Some(e) = self.enclaves.get_mut(&e) {
                    let (name, key) = r.split();
                    e.keys.insert(name.into_boxed_str(), key);
                }
            }
            Change::DelKey(e, name) => {
                if let Some(e) = self.enclaves.get_mut(&e) {
                    e.keys.remove(name.as_str());
                }
            }
            Change::PutIdentity(name, r) => {
                if let Some(e) = self.enclaves.get_mut(&name) {
                    self.owners.insert(r.identity.clone(), name);
                    e.identities.insert(r.identity.clone(), r);
                }
            }
            Change::DelIdentity(name, id) => {
                if let Some(e) = self.enclaves.get_mut(&name) {
                    if e.identities.remove(&id).is_some() {
                        self.owners.remove(&id);
                    }
                }
            }
            Change::PutPolicy(e, r) => {
                if let Some(e) = self.enclaves.get_mut(&e) {
                    // Validated when planned (and when written); an unparsable record would
                    // be a bug, and then the policy allows nothing.
                    let policy =
                        Policy::from_normalized_json(r.policy_json.as_bytes()).unwrap_or_default();
                    e.policies.insert(r.name.clone(), (r, Arc::new(policy)));
                }
            }
            Change::DelPolicy(e, name) => {
                if let Some(e) = self.enclaves.get_mut(&e) {
                    e.policies.remove(&name);
                }
            }
            Change::PutWrappingKey(e, r) => {
                if let Some(e) = self.enclaves.get_mut(&e) {
                    e.wrapping = Some(r);
                }
            }
            Change::DelWrappingKey(e) => {
                if let Some(e) = self.enclaves.get_mut(&e) {
                    e.wrapping = None;
                }
            }
        }
    }
}

/// Keys of one enclave as start-up reads them: names with what memory keeps of each key.
pub(crate) type KeyRun = Vec<(Box<str>, Key)>;

/// Builds a state from every stored record (start-up, restores, installed snapshots): the
/// keys of an enclave are gathered and its map built at once, full nodes from sorted names,
/// where inserting names in order would leave every node of the map half empty (and cost a
/// search each).
#[derive(Default)]
pub(crate) struct Loading {
    state: State,
    /// Keys by enclave, in the order read.
    keys: Vec<(String, KeyRun)>,
}

impl Loading {
    /// Adds one stored record (a put: records are what puts left).
    pub(crate) fn add(&mut self, change: Change) {
        match change {
            Change::PutKey(enclave, record) => {
                let (name, key) = record.split();
                self.add_keys(enclave, &mut vec![(name.into_boxed_str(), key)]);
            }
            other => self.state.apply_one(other),
        }
    }

    /// Moves stored keys of `enclave` out of `keys`.
    pub(crate) fn add_keys(&mut self, enclave: String, keys: &mut KeyRun) {
        match self.keys.iter_mut().rev().find(|(e, _)| *e == enclave) {
            Some((_, all)) => all.append(keys),
            None => self.keys.push((enclave, std::mem::take(keys))),
        }
    }

    /// The state, every key in the map of its enclave (a key whose enclave has no record is
    /// left out, as applying it alone would).
    pub(crate) fn finish(mut self) -> State {
        for (enclave, keys) in self.keys {
            if let Some(e) = self.state.enclaves.get_mut(&enclave) {
                if e.keys.is_empty() {
                    // Sorted by name already (storage order), which the sort finds in one pass.
                    e.keys = BTreeMap::from_iter(keys);
                } else {
                    e.keys.extend(keys);
                }
            }
        }
        self.state
    }
}

fn page<K: std::borrow::Borrow<str> + Ord, V, T>(
    map: &BTreeMap<K, V>,
    prefix: &str,
    continue_at: &str,
    limit: usize,
    visible: impl Fn(&str) -> bool,
    view: impl Fn(&str, &V) -> Vec<T>,
) -> Page<T> {
    let limit = if limit == 0 || limit > MAX_LIST_LIMIT {
        MAX_LIST_LIMIT
    } else {
        limit
    };
    let start = if continue_at > prefix {
        continue_at
    } else {
        prefix
    };
    let mut items = Vec::new();
    let mut continue_at = String::new();
    for (name, v) in map.range::<str, _>((Bound::Included(start), Bound::Unbounded)) {
        let name: &str = name.borrow();
        if !name.starts_with(prefix) {
            break;
        }
        if !visible(name) {
            continue;
        }
        if items.len() == limit {
            continue_at = name.to_string();
            break;
        }
        items.extend(view(name, v));
    }
    Page { items, continue_at }
}

fn enclave_info(r: &EnclaveRecord) -> EnclaveInfo {
    EnclaveInfo {
        name: r.name.clone(),
        created_at: r.created_at,
        created_by: r.created_by.clone(),
    }
}

fn key_info(name: &str, v: &KeyVersion) -> KeyInfo {
    KeyInfo {
        name: name.to_string(),
        version: v.version,
        kind: v.kind,
        created_at: v.created_at,
        created_by: v.created_by.to_string(),
    }
}

fn policy_info(r: &PolicyRecord, p: &Arc<Policy>) -> PolicyInfo {
    PolicyInfo {
        name: r.name.clone(),
        policy: p.clone(),
        created_at: r.created_at,
        created_by: r.created_by.clone(),
    }
}

fn identity_info(e: &Enclave, r: &IdentityRecord) -> IdentityInfo {
    IdentityInfo {
        identity: r.identity.clone(),
        privilege: r.privilege,
        policy: r.policy.clone(),
        created_at: r.created_at,
        created_by: r.created_by.clone(),
        is_service_account: !r.parent.is_empty(),
        service_accounts: e
            .identities
            .values()
            .filter(|c| c.parent == r.identity)
            .map(|c| c.identity.clone())
            .collect(),
        tags: r.tags.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{storage, KeyMaterial, KeyType, Timestamp};

    fn create_key(enclave: &str, name: &str, add_version: bool, by: &str) -> Command {
        Command::CreateKey {
            enclave: enclave.into(),
            name: name.into(),
            kind: KeyType::Aes256,
            material: KeyMaterial::generate(),
            add_version,
            imported: false,
            at: Timestamp::now(),
            by: by.into(),
        }
    }

    /// Applies `cmds` one by one; returns the state and the records storage would hold, in
    /// storage order.
    fn run(cmds: &[Command]) -> (State, Vec<Change>) {
        let mut state = State::default();
        let mut records = BTreeMap::new();
        for cmd in cmds {
            let changes = state.plan(cmd).unwrap();
            for change in &changes {
                let (key, value) = storage::encode(change).unwrap();
                match value {
                    Some(plain) => {
                        records.insert(key.clone(), storage::decode(&key, &plain).unwrap())
                    }
                    None => records.remove(&key),
                };
            }
            state.apply(changes);
        }
        (state, records.into_values().collect())
    }

    /// Every key of every enclave, with its versions, as the read API shows them.
    fn keys_of(state: &State) -> Vec<(String, Vec<KeyInfo>)> {
        let enclaves = state.list_enclaves("", "", MAX_LIST_LIMIT).items;
        let mut out = Vec::new();
        for e in enclaves {
            let page = state
                .list_keys(&e.name, "", "", MAX_LIST_LIMIT, |_| true)
                .unwrap();
            for k in page.items {
                out.push((
                    e.name.clone(),
                    state.key_versions(&e.name, &k.name).unwrap(),
                ));
            }
        }
        out
    }

    /// Start-up's bulk build holds what applying the same records one by one holds: several
    /// enclaves (one a prefix of another's name), keys of several versions, deleted keys and
    /// versions.
    #[test]
    fn loading_builds_what_applying_builds() {
        let at = Timestamp::now();
        let mut cmds = Vec::new();
        for e in ["a", "a-b", "b"] {
            cmds.push(Command::CreateEnclave {
                name: e.into(),
                at,
                by: "root".into(),
            });
        }
        for i in (0..40).rev() {
            let e = ["a", "a-b", "b"][i % 3];
            cmds.push(create_key(
                e,
                &format!("k{i}"),
                false,
                ["alice", "bob"][i % 2],
            ));
            if i % 4 == 0 {
                cmds.push(create_key(e, &format!("k{i}"), true, "carol"));
            }
        }
        cmds.push(Command::DeleteKey {
            enclave: "b".into(),
            name: "k2".into(),
            version: 0,
            all: true,
        });
        cmds.push(Command::DeleteKey {
            enclave: "a".into(),
            name: "k0".into(),
            version: 1,
            all: false,
        });
        let (applied, records) = run(&cmds);
        let mut loading = Loading::default();
        for r in records {
            loading.add(r);
        }
        let loaded = loading.finish();
        let (a, b) = (keys_of(&applied), keys_of(&loaded));
        assert_eq!(a.len(), 39);
        assert_eq!(a, b);
        assert_eq!(
            loaded
                .key_versions("a", "k0")
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            [2]
        );
    }

    /// Memory per key: a key of one version is inline in its map, and all versions made by one
    /// identity share one copy of its name.
    #[test]
    fn a_key_costs_its_version_and_shares_its_creator() {
        assert!(size_of::<Key>() <= 96, "{}", size_of::<Key>());
        let at = Timestamp::now();
        let (applied, records) = run(&[
            Command::CreateEnclave {
                name: "e".into(),
                at,
                by: "root".into(),
            },
            create_key("e", "one", false, "alice"),
            create_key("e", "two", false, "alice"),
        ]);
        let mut loading = Loading::default();
        for r in records {
            loading.add(r);
        }
        let loaded = loading.finish();
        // Written at run time (each command names its creator afresh) and read at start-up.
        for state in [&applied, &loaded] {
            let keys = &state.enclaves["e"].keys;
            let by = |name: &str| keys[name].versions.latest().unwrap().created_by.clone();
            assert!(Arc::ptr_eq(&by("one"), &by("two")));
        }
    }
}
