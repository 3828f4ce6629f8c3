//! One typed method per command of the API (and the node endpoints: version, status, log,
//! backup and restore), on top of the transport of `client.rs`.

use crate::client::{check, Client};
use crate::command::Command;
use crate::wire::*;
use crate::{normalize_endpoint, Error};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Full};
use prost::Message;

impl Client {
    /// `GET /version` on one host (the first endpoint if `None`).
    pub async fn version(&self, host: Option<&str>) -> Result<VersionResponse, Error> {
        let host = host
            .map(normalize_endpoint)
            .unwrap_or_else(|| self.endpoints[0].clone());
        let resp = check(
            self.send_to(&host, Method::GET, "/version", Bytes::new())
                .await?,
        )?;
        VersionResponse::decode(resp).map_err(|e| Error::Decode(e.to_string()))
    }

    /// `CLUSTER:STATUS`.
    pub async fn cluster_status(&self) -> Result<ClusterStatusResponse, Error> {
        self.call("", Command::ClusterStatus, &ClusterStatusRequest {})
            .await
    }

    /// `POST /v1/debug/log` on the first endpoint: the node's log from now on. The body is a
    /// stream of `u32 BE length ‖ LogRecord` records; read it with [`LogReader`].
    pub async fn follow_log(&self, filter: &impl Message) -> Result<LogReader, Error> {
        let uri = format!("https://{}/v1/debug/log", self.endpoints[0]);
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(Bytes::from(filter.encode_to_vec())))
            .map_err(|e| Error::Config(e.to_string()))?;
        let resp = self.streaming(req).await?;
        Ok(LogReader {
            body: resp.into_body(),
            buffer: bytes::BytesMut::new(),
        })
    }

    /// `CLUSTER:ADDNODE`: add the node at `host` to the cluster.
    pub async fn add_node(&self, host: &str) -> Result<(), Error> {
        self.write(
            "",
            Command::ClusterAddNode,
            &AddClusterNodeRequest { host: host.into() },
        )
        .await
    }

    /// `GET /v1/db` on the first endpoint: a backup of the whole state, handed to `sink` chunk by
    /// chunk as it arrives (for progress on large states). Returns its length.
    pub async fn backup(
        &self,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, Error> {
        let uri = format!("https://{}/v1/db", self.endpoints[0]);
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::ACCEPT, "application/*")
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut body = self.streaming(req).await?.into_body();
        let mut total = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::Transport(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                sink(data).map_err(|e| Error::Config(format!("cannot write the backup: {e}")))?;
                total += data.len() as u64;
            }
        }
        Ok(total)
    }

    /// `PUT /v1/db` on the first endpoint: restores a backup onto a fresh single node.
    pub async fn restore(&self, backup: Bytes) -> Result<(), Error> {
        let host = self.endpoints[0].clone();
        check(self.send_to(&host, Method::PUT, "/v1/db", backup).await?).map(|_| ())
    }

    /// `CLUSTER:REMOVENODE`: remove a healthy node (`host:port` or node id); with
    /// `delete_cluster`, the removed node starts over as a new single-node cluster.
    pub async fn remove_node(&self, node: &str, delete_cluster: bool) -> Result<(), Error> {
        self.write(
            "",
            Command::ClusterRemoveNode,
            &RemoveClusterNodeRequest {
                host: node.into(),
                delete_cluster_on_host: delete_cluster,
            },
        )
        .await
    }

    /// `CLUSTER:EDIT`: force-remove dead nodes from the cluster definition of the first
    /// endpoint only, without write quorum.
    pub async fn edit_cluster(&self, remove: &[u32]) -> Result<(), Error> {
        self.write(
            "",
            Command::ClusterEdit,
            &EditClusterRequest {
                host: self.endpoints[0].clone(),
                remove: remove.to_vec(),
                accept_fork: false,
            },
        )
        .await
    }

    /// `CLUSTER:EDIT` with `accept_fork`: the first endpoint, removed from its cluster with
    /// `--delete-cluster`, takes writes as a cluster of its own from now on.
    pub async fn accept_fork(&self) -> Result<(), Error> {
        self.write(
            "",
            Command::ClusterEdit,
            &EditClusterRequest {
                host: self.endpoints[0].clone(),
                remove: Vec::new(),
                accept_fork: true,
            },
        )
        .await
    }

    /// `CLUSTER:ADDHSM`: seal the root key with a configured HSM too.
    pub async fn add_hsm(&self, name: &str, overwrite: bool) -> Result<(), Error> {
        self.write(
            "",
            Command::ClusterAddHsm,
            &AddHsmRequest {
                name: name.into(),
                overwrite,
            },
        )
        .await
    }

    /// `CLUSTER:REMOVEHSM`: drop one HSM's sealed copy of the root key.
    pub async fn remove_hsm(&self, name: &str) -> Result<(), Error> {
        self.write(
            "",
            Command::ClusterRemoveHsm,
            &RemoveHsmRequest { name: name.into() },
        )
        .await
    }

    /// `ENCLAVE:CREATE`.
    pub async fn create_enclave(&self, name: &str) -> Result<(), Error> {
        self.write(
            "",
            Command::EnclaveCreate,
            &EnclaveRequest { name: name.into() },
        )
        .await
    }

    /// `ENCLAVE:DELETE`.
    pub async fn delete_enclave(&self, name: &str) -> Result<(), Error> {
        self.write(
            "",
            Command::EnclaveDelete,
            &EnclaveRequest { name: name.into() },
        )
        .await
    }

    /// `ENCLAVE:STATUS`.
    pub async fn enclave_status(&self, name: &str) -> Result<EnclaveStatusResponse, Error> {
        self.call(
            "",
            Command::EnclaveStatus,
            &EnclaveRequest { name: name.into() },
        )
        .await
    }

    /// `ENCLAVE:LIST`, one page.
    pub async fn list_enclaves(
        &self,
        prefix: &str,
        continue_at: &str,
        limit: u32,
    ) -> Result<ListEnclavesResponse, Error> {
        self.call(
            "",
            Command::EnclaveList,
            &ListRequest {
                prefix: prefix.into(),
                continue_at: continue_at.into(),
                limit,
            },
        )
        .await
    }

    /// `KEY:CREATE`; with `add_version`, a new version of an existing key.
    pub async fn create_key(
        &self,
        enclave: &str,
        name: &str,
        key_type: &str,
        add_version: bool,
    ) -> Result<(), Error> {
        self.write(
            enclave,
            Command::KeyCreate,
            &CreateKeyRequest {
                name: name.into(),
                r#type: key_type.into(),
                add_version,
            },
        )
        .await
    }

    /// `KEY:IMPORT`.
    pub async fn import_key(
        &self,
        enclave: &str,
        name: &str,
        key_type: &str,
        key: &[u8],
    ) -> Result<(), Error> {
        self.write(
            enclave,
            Command::KeyImport,
            &ImportKeyRequest {
                name: name.into(),
                r#type: key_type.into(),
                key: key.to_vec(),
            },
        )
        .await
    }

    /// `KEY:WRAPPINGKEY`: the enclave's import wrapping key (made on first use).
    pub async fn wrapping_key(&self, enclave: &str) -> Result<WrappingKeyResponse, Error> {
        self.call(enclave, Command::KeyWrappingKey, &WrappingKeyRequest {})
            .await
    }

    /// `KEY:IMPORTWRAPPED`: key material wrapped for the enclave's wrapping key.
    pub async fn import_wrapped_key(
        &self,
        enclave: &str,
        name: &str,
        key_type: &str,
        wrapped: &[u8],
        hash: &str,
    ) -> Result<(), Error> {
        self.write(
            enclave,
            Command::KeyImportWrapped,
            &ImportWrappedKeyRequest {
                name: name.into(),
                r#type: key_type.into(),
                wrapped: wrapped.to_vec(),
                hash: hash.into(),
            },
        )
        .await
    }

    /// `KEY:DELETE`.
    pub async fn delete_key(
        &self,
        enclave: &str,
        name: &str,
        version: u32,
        all_versions: bool,
    ) -> Result<(), Error> {
        self.write(
            enclave,
            Command::KeyDelete,
            &DeleteKeyRequest {
                name: name.into(),
                version,
                all_versions,
            },
        )
        .await
    }

    /// `KEY:STATUS`.
    pub async fn key_status(
        &self,
        enclave: &str,
        name: &str,
        version: u32,
    ) -> Result<KeyStatusResponse, Error> {
        self.call(
            enclave,
            Command::KeyStatus,
            &KeyStatusRequest {
                name: name.into(),
                version,
            },
        )
        .await
    }

    /// `KEY:LIST`, one page.
    pub async fn list_keys(
        &self,
        enclave: &str,
        prefix: &str,
        continue_at: &str,
        limit: u32,
    ) -> Result<ListKeysResponse, Error> {
        self.call(
            enclave,
            Command::KeyList,
            &ListRequest {
                prefix: prefix.into(),
                continue_at: continue_at.into(),
                limit,
            },
        )
        .await
    }

    /// `KEY:LISTVERSIONS`: every version of one key (the request's prefix is the key name).
    pub async fn list_key_versions(
        &self,
        enclave: &str,
        name: &str,
    ) -> Result<ListKeysResponse, Error> {
        self.call(
            enclave,
            Command::KeyListVersions,
            &ListRequest {
                prefix: name.into(),
                continue_at: String::new(),
                limit: 0,
            },
        )
        .await
    }

    /// `KEY:ENCRYPT`.
    pub async fn encrypt(
        &self,
        enclave: &str,
        name: &str,
        plaintext: &[u8],
        associated_data: &[u8],
    ) -> Result<EncryptResponse, Error> {
        self.call(
            enclave,
            Command::KeyEncrypt,
            &EncryptRequest {
                name: name.into(),
                version: 0,
                plaintext: plaintext.to_vec(),
                associated_data: associated_data.to_vec(),
            },
        )
        .await
    }

    /// `KEY:DECRYPT` (version 0: taken from the ciphertext, as MinIO sends it).
    pub async fn decrypt(
        &self,
        enclave: &str,
        name: &str,
        version: u32,
        ciphertext: &[u8],
        associated_data: &[u8],
    ) -> Result<DecryptResponse, Error> {
        self.call(
            enclave,
            Command::KeyDecrypt,
            &DecryptRequest {
                name: name.into(),
                version,
                ciphertext: ciphertext.to_vec(),
                associated_data: associated_data.to_vec(),
            },
        )
        .await
    }

    /// `KEY:GENERATE`.
    pub async fn generate_key(
        &self,
        enclave: &str,
        name: &str,
        associated_data: &[u8],
        length: u32,
    ) -> Result<GenerateKeyResponse, Error> {
        self.call(
            enclave,
            Command::KeyGenerate,
            &GenerateKeyRequest {
                name: name.into(),
                version: 0,
                associated_data: associated_data.to_vec(),
                length,
            },
        )
        .await
    }

    /// `KEY:MAC`.
    pub async fn mac(
        &self,
        enclave: &str,
        name: &str,
        version: u32,
        message: &[u8],
    ) -> Result<MacResponse, Error> {
        self.call(
            enclave,
            Command::KeyMac,
            &MacRequest {
                name: name.into(),
                version,
                message: message.to_vec(),
            },
        )
        .await
    }

    /// `POLICY:CREATE` (creates or overwrites).
    pub async fn create_policy(
        &self,
        enclave: &str,
        req: &CreatePolicyRequest,
    ) -> Result<(), Error> {
        self.write(enclave, Command::PolicyCreate, req).await
    }

    /// `POLICY:DELETE`.
    pub async fn delete_policy(&self, enclave: &str, name: &str) -> Result<(), Error> {
        self.write(
            enclave,
            Command::PolicyDelete,
            &PolicyRequest { name: name.into() },
        )
        .await
    }

    /// `POLICY:ASSIGN`.
    pub async fn assign_policy(
        &self,
        enclave: &str,
        policy: &str,
        identity: &str,
    ) -> Result<(), Error> {
        self.write(
            enclave,
            Command::PolicyAssign,
            &AssignPolicyRequest {
                identity: identity.into(),
                policy: policy.into(),
            },
        )
        .await
    }

    /// `POLICY:GET`.
    pub async fn get_policy(&self, enclave: &str, name: &str) -> Result<PolicyResponse, Error> {
        self.call(
            enclave,
            Command::PolicyGet,
            &PolicyRequest { name: name.into() },
        )
        .await
    }

    /// `POLICY:STATUS`.
    pub async fn policy_status(
        &self,
        enclave: &str,
        name: &str,
    ) -> Result<PolicyStatusResponse, Error> {
        self.call(
            enclave,
            Command::PolicyStatus,
            &PolicyRequest { name: name.into() },
        )
        .await
    }

    /// `POLICY:LIST`, one page.
    pub async fn list_policies(
        &self,
        enclave: &str,
        prefix: &str,
        continue_at: &str,
        limit: u32,
    ) -> Result<ListPoliciesResponse, Error> {
        self.call(
            enclave,
            Command::PolicyList,
            &ListRequest {
                prefix: prefix.into(),
                continue_at: continue_at.into(),
                limit,
            },
        )
        .await
    }

    /// `IDENTITY:CREATE` (creates or overwrites).
    pub async fn create_identity(
        &self,
        enclave: &str,
        req: &CreateIdentityRequest,
    ) -> Result<(), Error> {
        self.write(enclave, Command::IdentityCreate, req).await
    }

    /// `IDENTITY:DELETE`.
    pub async fn delete_identity(&self, enclave: &str, identity: &str) -> Result<(), Error> {
        self.write(
            enclave,
            Command::IdentityDelete,
            &IdentityRequest {
                identity: identity.into(),
            },
        )
        .await
    }

    /// `IDENTITY:STATUS`.
    pub async fn identity_status(
        &self,
        enclave: &str,
        identity: &str,
    ) -> Result<IdentityResponse, Error> {
        self.call(
            enclave,
            Command::IdentityStatus,
            &IdentityRequest {
                identity: identity.into(),
            },
        )
        .await
    }

    /// `IDENTITY:LIST`, one page.
    pub async fn list_identities(
        &self,
        enclave: &str,
        prefix: &str,
        continue_at: &str,
        limit: u32,
    ) -> Result<ListIdentitiesResponse, Error> {
        self.call(
            enclave,
            Command::IdentityList,
            &ListRequest {
                prefix: prefix.into(),
                continue_at: continue_at.into(),
                limit,
            },
        )
        .await
    }
}

/// Reads the records of a log stream one at a time.
#[derive(Debug)]
pub struct LogReader {
    body: hyper::body::Incoming,
    buffer: bytes::BytesMut,
}

impl LogReader {
    /// The next record; `None` when the server ends the stream.
    pub async fn next(&mut self) -> Result<Option<LogRecord>, Error> {
        loop {
            if self.buffer.len() >= 4 {
                let len = u32::from_be_bytes([
                    self.buffer[0],
                    self.buffer[1],
                    self.buffer[2],
                    self.buffer[3],
                ]) as usize;
                if self.buffer.len() >= 4 + len {
                    let _ = self.buffer.split_to(4);
                    let record = self.buffer.split_to(len).freeze();
                    return LogRecord::decode(record)
                        .map(Some)
                        .map_err(|e| Error::Decode(e.to_string()));
                }
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(Error::Transport(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}
