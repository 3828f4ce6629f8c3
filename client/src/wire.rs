//! Protobuf messages of the API (package `minio.kms`), written from the field tables of
//! API.md §3. Field numbers are interoperability facts; the definitions are our own.
#![allow(missing_docs)] // Each field is documented by its name and API.md §3.

use std::collections::HashMap;

use prost_types::{Duration, Timestamp};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrResponse {
    #[prost(string, tag = "1")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct VersionResponse {
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub version: String,
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub commit: String,
    #[prost(string, tag = "3")]
    #[serde(default)]
    pub api_version: String,
    #[prost(string, tag = "4")]
    #[serde(default)]
    pub host: String,
    #[prost(bool, tag = "5")]
    #[serde(default)]
    pub fips140: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListRequest {
    #[prost(string, tag = "1")]
    pub prefix: String,
    #[prost(string, tag = "2")]
    pub continue_at: String,
    #[prost(uint32, tag = "3")]
    pub limit: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ClusterStatusRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddClusterNodeRequest {
    #[prost(string, tag = "1")]
    pub host: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveClusterNodeRequest {
    #[prost(string, tag = "1")]
    pub host: String,
    #[prost(bool, tag = "2")]
    pub delete_cluster_on_host: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EditClusterRequest {
    #[prost(string, tag = "1")]
    pub host: String,
    #[prost(uint32, repeated, tag = "2")]
    pub remove: Vec<u32>,
    /// minkms: accept that a node removed with `--delete-cluster` runs as a cluster of its own
    /// (its writes are fenced until then).
    #[prost(bool, tag = "3")]
    pub accept_fork: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddHsmRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(bool, tag = "2")]
    pub overwrite: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveHsmRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `CreateEnclaveRequest`, `DeleteEnclaveRequest` and `EnclaveStatusRequest` share this shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EnclaveRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateKeyRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
    #[prost(bool, tag = "3")]
    pub add_version: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct ImportKeyRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
}

/// `KEY:WRAPPINGKEY` (a minkms extension): the enclave's import wrapping key, made on first use.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WrappingKeyRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WrappingKeyResponse {
    /// RSA-4096 public key, DER SubjectPublicKeyInfo.
    #[prost(bytes = "vec", tag = "1")]
    pub public_key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub created_at: Option<Timestamp>,
    #[prost(string, tag = "3")]
    pub created_by: String,
}

/// `KEY:IMPORTWRAPPED` (a minkms extension): key material wrapped for the enclave's wrapping
/// key: RSA-OAEP of an AES-256 key, then that key's RFC 5649 wrap of the material.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImportWrappedKeyRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
    #[prost(bytes = "vec", tag = "3")]
    pub wrapped: Vec<u8>,
    /// The RSA-OAEP hash: `SHA256` (default, also when empty) or `SHA1`.
    #[prost(string, tag = "4")]
    pub hash: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteKeyRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub version: u32,
    #[prost(bool, tag = "3")]
    pub all_versions: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyStatusRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub version: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct EncryptRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub plaintext: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub associated_data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateKeyRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub associated_data: Vec<u8>,
    #[prost(uint32, tag = "4")]
    pub length: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MacRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub message: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub associated_data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Rule {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuleSet {
    #[prost(map = "string, message", tag = "1")]
    pub rules: HashMap<String, Rule>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreatePolicyRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(map = "string, message", tag = "2")]
    pub allow: HashMap<String, RuleSet>,
    #[prost(map = "string, message", tag = "3")]
    pub deny: HashMap<String, RuleSet>,
}

/// `PolicyRequest` and `DeletePolicyRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PolicyRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AssignPolicyRequest {
    #[prost(string, tag = "1")]
    pub identity: String,
    #[prost(string, tag = "2")]
    pub policy: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateIdentityRequest {
    #[prost(string, tag = "1")]
    pub identity: String,
    #[prost(string, tag = "2")]
    pub privilege: String,
    #[prost(bool, tag = "3")]
    pub is_service_account: bool,
    #[prost(map = "string, string", tag = "4")]
    pub tags: HashMap<String, String>,
}

/// `IdentityRequest` and `DeleteIdentityRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IdentityRequest {
    #[prost(string, tag = "1")]
    pub identity: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerStatusResponse {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub api_version: String,
    #[prost(string, tag = "3")]
    pub host: String,
    #[prost(message, optional, tag = "4")]
    pub uptime: Option<Duration>,
    #[prost(string, tag = "5")]
    pub role: String,
    #[prost(uint64, tag = "6")]
    pub commit: u64,
    #[prost(map = "uint32, string", tag = "7")]
    pub nodes: HashMap<u32, String>,
    #[prost(uint32, tag = "8")]
    pub node_id: u32,
    #[prost(sint64, tag = "9")]
    pub leader_id: i64,
    #[prost(message, optional, tag = "10")]
    pub last_heartbeat: Option<Duration>,
    #[prost(message, optional, tag = "11")]
    pub heartbeat_interval: Option<Duration>,
    #[prost(message, optional, tag = "12")]
    pub election_timeout: Option<Duration>,
    #[prost(string, tag = "13")]
    pub sys_os: String,
    #[prost(string, tag = "14")]
    pub sys_cpu_arch: String,
    #[prost(uint32, tag = "15")]
    pub sys_cpu_num: u32,
    #[prost(uint32, tag = "16")]
    pub sys_cpu_used: u32,
    #[prost(uint64, tag = "17")]
    pub heap_mem_in_use: u64,
    #[prost(uint64, tag = "18")]
    pub stack_mem_in_use: u64,
    #[prost(string, repeated, tag = "19")]
    pub hsm: Vec<String>,
    #[prost(string, repeated, tag = "20")]
    pub hsm_active: Vec<String>,
    /// minkms extension (MinIO's client ignores unknown fields): HSM id → health line, for
    /// HSMs that report more than being configured (a CloudHSM cluster's state).
    #[prost(map = "string, string", tag = "100")]
    pub hsm_status: HashMap<String, String>,
    /// minkms extension: whether this node, leading, would take a write now (every member
    /// answered recently and the open slot is resolved). Always false on a follower.
    #[prost(bool, tag = "101")]
    pub write_ready: bool,
    /// minkms extension: the cluster id (two clusters may share an HSM key).
    #[prost(string, tag = "102")]
    pub cluster_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ClusterStatusResponse {
    #[prost(map = "uint32, message", tag = "1")]
    pub nodes_up: HashMap<u32, ServerStatusResponse>,
    #[prost(map = "uint32, string", tag = "2")]
    pub nodes_down: HashMap<u32, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EnclaveStatusResponse {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub created_at: Option<Timestamp>,
    #[prost(string, tag = "3")]
    pub created_by: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListEnclavesResponse {
    #[prost(message, repeated, tag = "1")]
    pub enclaves: Vec<EnclaveStatusResponse>,
    #[prost(string, tag = "2")]
    pub continue_at: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyStatusResponse {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub version: u32,
    #[prost(string, tag = "3")]
    pub r#type: String,
    #[prost(message, optional, tag = "4")]
    pub created_at: Option<Timestamp>,
    #[prost(string, tag = "5")]
    pub created_by: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListKeysResponse {
    #[prost(message, repeated, tag = "1")]
    pub keys: Vec<KeyStatusResponse>,
    #[prost(string, tag = "2")]
    pub continue_at: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct DecryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct GenerateKeyResponse {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MacResponse {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub mac: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PolicyStatusResponse {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "4")]
    pub created_at: Option<Timestamp>,
    #[prost(string, tag = "5")]
    pub created_by: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PolicyResponse {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(map = "string, message", tag = "2")]
    pub allow: HashMap<String, RuleSet>,
    #[prost(map = "string, message", tag = "3")]
    pub deny: HashMap<String, RuleSet>,
    #[prost(message, optional, tag = "4")]
    pub created_at: Option<Timestamp>,
    #[prost(string, tag = "5")]
    pub created_by: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPoliciesResponse {
    #[prost(message, repeated, tag = "1")]
    pub policies: Vec<PolicyStatusResponse>,
    #[prost(string, tag = "2")]
    pub continue_at: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IdentityResponse {
    #[prost(string, tag = "1")]
    pub identity: String,
    #[prost(uint32, tag = "2")]
    pub privilege: u32,
    #[prost(string, tag = "3")]
    pub policy: String,
    #[prost(message, optional, tag = "4")]
    pub created_at: Option<Timestamp>,
    #[prost(string, tag = "5")]
    pub created_by: String,
    #[prost(bool, tag = "6")]
    pub is_service_account: bool,
    #[prost(string, repeated, tag = "7")]
    pub service_accounts: Vec<String>,
    #[prost(map = "string, string", tag = "8")]
    pub tags: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListIdentitiesResponse {
    #[prost(message, repeated, tag = "1")]
    pub identities: Vec<IdentityResponse>,
    #[prost(string, tag = "2")]
    pub continue_at: String,
}

/// `GET /v1/debug/pprof`: whether a profile is being recorded, and of what. minkms records CPU
/// profiles only; the Go runtime's other profiles (goroutines, threads, blocking, mutexes)
/// have no equivalent and stay off.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProfileStatusResponse {
    #[prost(message, optional, tag = "1")]
    pub started: Option<Timestamp>,
    #[prost(bool, tag = "2")]
    pub cpu: bool,
    #[prost(bool, tag = "3")]
    pub heap: bool,
    #[prost(bool, tag = "4")]
    pub goroutine: bool,
    #[prost(bool, tag = "5")]
    pub thread: bool,
    #[prost(uint32, tag = "6")]
    pub block_rate: u32,
    #[prost(uint32, tag = "7")]
    pub mutex_fraction: u32,
}

/// `POST /v1/debug/log` request (not framed). Levels are Go slog's: -4 debug, 0 info, 4 warn,
/// 8 error.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRequest {
    #[prost(sint32, tag = "1")]
    pub level: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, optional, tag = "3")]
    pub since: Option<Timestamp>,
    #[prost(sint32, tag = "4")]
    pub trace_level: i32,
}

impl LogRequest {
    /// Decodes either layout: today's, or the one MinIO's pinned client (kms-go before June
    /// 2025) sends, where field 4 is a string (an HTTP method filter) and the trace level is
    /// field 8. The wire type of field 4 tells them apart: today's decoder refuses a string
    /// there. The older request filters (method, path, identity, IP) select nothing here.
    pub fn decode_either(body: &[u8]) -> Result<Self, prost::DecodeError> {
        use prost::Message as _;
        Self::decode(body).or_else(|_| {
            let old = LogRequestBefore2025::decode(body)?;
            Ok(Self {
                level: old.level,
                message: old.message,
                since: old.since,
                trace_level: old.trace_level,
            })
        })
    }
}

/// `POST /v1/debug/log` request in kms-go's layout before June 2025 (the client MinIO pins).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRequestBefore2025 {
    #[prost(sint32, tag = "1")]
    pub level: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, optional, tag = "3")]
    pub since: Option<Timestamp>,
    #[prost(string, tag = "4")]
    pub method: String,
    #[prost(string, tag = "5")]
    pub path: String,
    #[prost(string, tag = "6")]
    pub identity: String,
    #[prost(string, tag = "7")]
    pub ip: String,
    #[prost(sint32, tag = "8")]
    pub trace_level: i32,
}

/// One record of the `/v1/debug/log` stream, sent as `u32 BE length ‖ LogRecord`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(sint32, tag = "1")]
    pub level: i32,
    #[prost(message, optional, tag = "2")]
    pub time: Option<Timestamp>,
    #[prost(string, tag = "3")]
    pub message: String,
    /// The request a record is about. Always sent, empty when none: kms-go before June 2025
    /// reads it from every record and fails on one without it; today's ignores it.
    #[prost(message, optional, tag = "5")]
    pub req: Option<LogRecordRequest>,
}

/// Field 5 of a [`LogRecord`] in kms-go's layout before June 2025.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecordRequest {
    #[prost(string, tag = "1")]
    pub method: String,
    #[prost(string, tag = "2")]
    pub path: String,
    #[prost(string, tag = "3")]
    pub identity: String,
    #[prost(string, tag = "4")]
    pub ip: String,
}

/// `Debug` that shows a message's names and numbers and only the length of its secret fields
/// (key material, plaintexts): messages end up in logs and panics.
macro_rules! debug_without_secrets {
    ($($ty:ident { $($shown:ident),* } hides { $($hidden:ident),+ })*) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($hidden), &format_args!("<{} bytes>", self.$hidden.len())))+
                    .finish()
            }
        }
    )*};
}

debug_without_secrets! {
    ImportKeyRequest { name, r#type } hides { key }
    EncryptRequest { name, version, associated_data } hides { plaintext }
    DecryptResponse { } hides { plaintext }
    GenerateKeyResponse { version, ciphertext } hides { plaintext }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_key_material_or_plaintext() {
        let secret = vec![0xA5u8; 32];
        let shown = [
            format!(
                "{:?}",
                ImportKeyRequest {
                    name: "k".into(),
                    r#type: String::new(),
                    key: secret.clone()
                }
            ),
            format!(
                "{:?}",
                EncryptRequest {
                    name: "k".into(),
                    plaintext: secret.clone(),
                    ..Default::default()
                }
            ),
            format!(
                "{:?}",
                DecryptResponse {
                    plaintext: secret.clone()
                }
            ),
            format!(
                "{:?}",
                GenerateKeyResponse {
                    plaintext: secret.clone(),
                    ..Default::default()
                }
            ),
        ];
        for text in shown {
            assert!(!text.contains("165"), "{text}");
            assert!(text.contains("<32 bytes>"), "{text}");
        }
    }
}
