//! Every label and context string minkms derives, seals or authenticates under, in one place.
//!
//! They are part of the on-disk and on-wire formats (docs/formats.md lists the same chain):
//! changing one changes the root API key, the node keys, or what opens `kms.db`, and splits a
//! cluster whose nodes disagree. New derivations get new labels; these stay as they are.

/// What the communication backend is asked to derive: the secret of §1.3 of the formats, from
/// which the root API key and the peer secret come.
pub const COMMUNICATION: &str = "minkms/v1/communication";
/// Derived from the communication secret: the seed of the root API key.
pub const ROOT_API_KEY: &str = "minkms/v1/root-api-key";
/// Derived from the communication secret: the peer secret.
pub const PEER_TLS: &str = "minkms/v1/peer-tls";
/// Under the peer secret, before `:<cluster id>:<node id>`: each node's Ed25519 seed.
pub const PEER_NODE: &str = "minkms/v1/peer-node";

/// The soft HSM's seal key info (HKDF of its key).
pub const SOFT_SEAL: &[u8] = b"minkms/v1/soft-hsm/seal";
/// The soft HSM's derive info prefix; the label asked for follows it.
pub const SOFT_DERIVE: &[u8] = b"minkms/v1/soft-hsm/derive/";
/// The YubiHSM's seal message prefix (the device's HMAC key, before the salt).
pub const YUBIHSM_SEAL: &[u8] = b"minkms/v1/yubihsm/seal";
/// The YubiHSM's derive message prefix; the label asked for follows it.
pub const YUBIHSM_DERIVE: &[u8] = b"minkms/v1/yubihsm/derive/";
/// What the YubiHSM is asked to MAC at start-up, to prove the HMAC key is usable.
pub const YUBIHSM_CHECK: &[u8] = b"minkms/v1/yubihsm/check";

/// The context the root encryption key is sealed under.
pub const ROOT_ENCRYPTION_KEY: &[u8] = b"minkms/v1/root-encryption-key";
/// The associated data of every encrypted record, before the record's table and key.
pub const RECORD_AAD: &[u8] = b"minkms/v1/record:";
/// Derived from the root key: the key of a backup's MAC.
pub const BACKUP_MAC: &[u8] = b"minkms/v1/backup-mac";
/// Derived from a master key version: its HMAC key.
pub const KEY_MAC: &[u8] = b"minkms/v1/key/mac";
/// What a node seals and unseals with each HSM to report it healthy.
pub const HSM_PROBE: &[u8] = b"minkms/v1/hsm-probe";
