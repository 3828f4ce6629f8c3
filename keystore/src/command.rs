//! Write commands: the unit of change, and later of replication.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{KeyMaterial, KeyType, Privilege, Timestamp, WrappingPrivateKey};

/// A state change. Everything random (key material) or time-dependent (timestamps) is chosen
/// by whoever builds the command, so applying it is deterministic on every replica.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// `ENCLAVE:CREATE`.
    CreateEnclave {
        /// Name.
        name: String,
        /// When.
        at: Timestamp,
        /// Who.
        by: String,
    },
    /// `ENCLAVE:DELETE`: removes the enclave with every key, identity and policy in it.
    DeleteEnclave {
        /// Name.
        name: String,
    },
    /// `KEY:CREATE` / `KEY:IMPORT`: a new key, or with `add_version` a new version of an existing
    /// one (creating it if missing).
    CreateKey {
        /// Enclave.
        enclave: String,
        /// Key name.
        name: String,
        /// Algorithm.
        kind: KeyType,
        /// The material of the new version.
        material: KeyMaterial,
        /// Add a version to an existing key instead of failing with "key already exists".
        add_version: bool,
        /// Whether the material came from outside (KES-format ciphertexts are accepted then).
        imported: bool,
        /// When.
        at: Timestamp,
        /// Who.
        by: String,
    },
    /// `KEY:DELETE`: one version (0 = the latest) or all of them.
    DeleteKey {
        /// Enclave.
        enclave: String,
        /// Key name.
        name: String,
        /// Version, 0 = latest.
        version: u32,
        /// Delete the key with all its versions.
        all: bool,
    },
    /// `POLICY:CREATE` (creates or overwrites).
    CreatePolicy {
        /// Enclave.
        enclave: String,
        /// Policy name.
        name: String,
        /// The policy's JSON, already validated.
        policy_json: String,
        /// When.
        at: Timestamp,
        /// Who.
        by: String,
    },
    /// `POLICY:DELETE`.
    DeletePolicy {
        /// Enclave.
        enclave: String,
        /// Policy name.
        name: String,
    },
    /// `POLICY:ASSIGN`.
    AssignPolicy {
        /// Enclave.
        enclave: String,
        /// Identity (`h1:`).
        identity: String,
        /// Policy name.
        policy: String,
    },
    /// `IDENTITY:CREATE` (creates or overwrites).
    CreateIdentity {
        /// Enclave.
        enclave: String,
        /// Identity (`h1:`).
        identity: String,
        /// Privilege.
        privilege: Privilege,
        /// For a service account, its parent identity; "" otherwise.
        parent: String,
        /// Tags.
        tags: BTreeMap<String, String>,
        /// When.
        at: Timestamp,
        /// Who.
        by: String,
    },
    /// `IDENTITY:DELETE`: also deletes the identity's service accounts.
    DeleteIdentity {
        /// Enclave.
        enclave: String,
        /// Identity (`h1:`).
        identity: String,
    },
    /// `KEY:WRAPPINGKEY` on an enclave without one: its import wrapping key. When two are made
    /// at once, the first committed stays and the other changes nothing.
    CreateWrappingKey {
        /// Enclave.
        enclave: String,
        /// The RSA private key.
        private_key: WrappingPrivateKey,
        /// When.
        at: Timestamp,
        /// Who.
        by: String,
    },
}

impl Command {
    /// The enclave the command changes (for an enclave command, the enclave itself).
    pub fn enclave(&self) -> &str {
        match self {
            Command::CreateEnclave { name, .. } | Command::DeleteEnclave { name } => name,
            Command::CreateKey { enclave, .. }
            | Command::DeleteKey { enclave, .. }
            | Command::CreatePolicy { enclave, .. }
            | Command::DeletePolicy { enclave, .. }
            | Command::AssignPolicy { enclave, .. }
            | Command::CreateIdentity { enclave, .. }
            | Command::DeleteIdentity { enclave, .. }
            | Command::CreateWrappingKey { enclave, .. } => enclave,
        }
    }
}
