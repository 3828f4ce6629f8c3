//! `POST /v1/kms[/<enclave>]`: framed commands in, framed responses out (API.md §2.2–2.3).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use minkms_client::wire::*;
use minkms_client::{decode_frames, put_frame, Command, FrameError, Identity};
use minkms_keystore::{self as ks, KeyMaterial, KeyType, Privilege, State, Timestamp};
use minkms_policies::{Policy, RuleSet as PolicyRuleSet};
use prost::Message;

use crate::api::auth::{Access, Caller};
use crate::api::error::ApiError;
use crate::node::state::Node;

/// Most frames one request may carry.
pub(crate) const MAX_BATCH: usize = 1000;

/// What a parsed request is: its command and its frames' payloads.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) cmd: Command,
    pub(crate) payloads: Vec<Bytes>,
}

impl Batch {
    /// Splits and checks a body: known command, one command per request, writes and lists
    /// alone, at most [`MAX_BATCH`] frames.
    pub(crate) fn parse(body: &Bytes) -> Result<Self, ApiError> {
        let frames = decode_frames(body, MAX_BATCH).map_err(|e| match e {
            FrameError::TooMany(_) => {
                ApiError::new(http::StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            _ => ApiError::bad_request(e.to_string()),
        })?;
        let id = frames[0].id;
        let cmd = Command::from_id(id).ok_or_else(|| {
            ApiError::bad_request(format!("invalid request: unknown command {id}"))
        })?;
        if frames.iter().any(|f| f.id != id) {
            return Err(ApiError::bad_request(
                "invalid request: all frames of a request must carry the same command",
            ));
        }
        let single = cmd.is_write()
            || matches!(
                cmd,
                Command::EnclaveList
                    | Command::KeyList
                    | Command::KeyListVersions
                    | Command::PolicyList
                    | Command::IdentityList
                    | Command::ClusterStatus
            );
        if single && frames.len() > 1 {
            return Err(ApiError::bad_request(format!(
                "invalid request: {} cannot be batched",
                cmd.text()
            )));
        }
        Ok(Self {
            cmd,
            payloads: frames.into_iter().map(|f| f.payload).collect(),
        })
    }
}

/// A command handed to the wrong path (a bug): an error, never a panic.
fn misrouted(cmd: Command) -> ApiError {
    tracing::error!(command = cmd.text(), "command routed to the wrong handler");
    ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn decode<M: Message + Default>(cmd: Command, payload: &Bytes) -> Result<M, ApiError> {
    M::decode(payload.clone()).map_err(|_| {
        ApiError::bad_request(format!("invalid request: malformed {} payload", cmd.text()))
    })
}

fn timestamp(t: Timestamp) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.secs,
        nanos: t.nanos as i32,
    })
}

fn key_status(k: ks::KeyInfo) -> KeyStatusResponse {
    KeyStatusResponse {
        name: k.name,
        version: k.version,
        r#type: k.kind.as_str().into(),
        created_at: timestamp(k.created_at),
        created_by: k.created_by,
    }
}

fn enclave_status(e: ks::EnclaveInfo) -> EnclaveStatusResponse {
    EnclaveStatusResponse {
        name: e.name,
        created_at: timestamp(e.created_at),
        created_by: e.created_by,
    }
}

fn policy_status(p: &ks::PolicyInfo) -> PolicyStatusResponse {
    PolicyStatusResponse {
        name: p.name.clone(),
        created_at: timestamp(p.created_at),
        created_by: p.created_by.clone(),
    }
}

fn identity_response(i: ks::IdentityInfo) -> IdentityResponse {
    IdentityResponse {
        identity: i.identity,
        privilege: i.privilege as u32,
        policy: i.policy,
        created_at: timestamp(i.created_at),
        created_by: i.created_by,
        is_service_account: i.is_service_account,
        service_accounts: i.service_accounts,
        tags: i.tags.into_iter().collect(),
    }
}

fn wire_rules(map: &std::collections::BTreeMap<String, PolicyRuleSet>) -> HashMap<String, RuleSet> {
    map.iter()
        .map(|(cmd, rules)| {
            (
                cmd.clone(),
                RuleSet {
                    rules: rules.patterns().map(|p| (p.to_string(), Rule {})).collect(),
                },
            )
        })
        .collect()
}

fn policy_from_wire(req: &CreatePolicyRequest) -> Result<Policy, ApiError> {
    let convert = |m: &HashMap<String, RuleSet>| {
        m.iter()
            .map(|(c, r)| (c.clone(), PolicyRuleSet::new(r.rules.keys().cloned())))
            .collect()
    };
    Policy {
        allow: convert(&req.allow),
        deny: convert(&req.deny),
    }
    .normalized(&Command::grantable_texts())
    .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn list_limit(limit: u32) -> usize {
    limit as usize
}

/// Answers a batch: the one dispatch of the KMS protocol's commands. Reads are served here from
/// the committed state once the cluster's read gate lets them through; writes and cluster
/// commands go through the cluster layer.
pub(crate) async fn dispatch(
    node: Arc<Node>,
    caller: Arc<Caller>,
    enclave: String,
    batch: Batch,
) -> Result<Bytes, ApiError> {
    if batch.cmd.is_write() || batch.cmd.is_cluster() {
        // Writes and cluster commands wait on the cluster; their futures are large, so they
        // live on the heap and reads, the common case, stay small to spawn and move.
        return Box::pin(change(node, caller, enclave, batch)).await;
    }
    node.cluster
        .readable(&enclave, read_keys(&batch).as_deref())
        .await?;
    read(&node, &caller, &enclave, &batch)
}

/// A write or a cluster command.
async fn change(
    node: Arc<Node>,
    caller: Arc<Caller>,
    enclave: String,
    batch: Batch,
) -> Result<Bytes, ApiError> {
    match batch.cmd {
        Command::ClusterAddNode | Command::ClusterRemoveNode | Command::ClusterEdit => {
            change_members(&node, &caller, &batch).await?;
            Ok(Bytes::new())
        }
        Command::ClusterStatus => {
            check_access(&node, &caller, &enclave, batch.cmd)?;
            let status = node.cluster_status().await;
            let mut out = BytesMut::new();
            put_frame(&mut out, batch.cmd.id(), &status);
            Ok(out.freeze())
        }
        Command::ClusterAddHsm | Command::ClusterRemoveHsm => {
            tokio::task::spawn_blocking(move || change_hsms(&node, &caller, &batch))
                .await
                .map_err(|_| {
                    ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                })??;
            Ok(Bytes::new())
        }
        cmd if cmd.is_write() => {
            node.cluster.readable(&enclave, None).await?;
            let cmd = plan_write(&node, &caller, &enclave, &batch)?;
            node.keystore.check(&cmd)?;
            node.cluster.write(&node, cmd).await?;
            Ok(Bytes::new())
        }
        _ => {
            node.cluster
                .readable(&enclave, read_keys(&batch).as_deref())
                .await?;
            read(&node, &caller, &enclave, &batch)
        }
    }
}

/// Runs a read-only batch against the committed state; one response frame per request frame.
pub(crate) fn read(
    node: &Node,
    caller: &Caller,
    enclave: &str,
    batch: &Batch,
) -> Result<Bytes, ApiError> {
    let state = node.keystore.state();
    let cmd = batch.cmd;
    let access = Access::resolve(caller, &state, cmd, enclave)?;
    let mut read = Read {
        state: &state,
        access: &access,
        caller,
        enclave,
        cmd,
        out: BytesMut::new(),
    };
    for payload in &batch.payloads {
        match cmd {
            Command::EnclaveStatus => read.enclave_status(payload)?,
            Command::EnclaveList => read.enclave_list(payload)?,
            Command::KeyStatus => read.key_status(payload)?,
            Command::KeyEncrypt => read.key_encrypt(payload)?,
            Command::KeyDecrypt => read.key_decrypt(payload)?,
            Command::KeyGenerate => read.key_generate(payload)?,
            Command::KeyMac => read.key_mac(payload)?,
            Command::KeyList => read.key_list(payload)?,
            Command::KeyListVersions => read.key_list_versions(payload)?,
            Command::PolicyGet => read.policy_get(payload)?,
            Command::PolicyStatus => read.policy_status(payload)?,
            Command::PolicyList => read.policy_list(payload)?,
            Command::IdentityStatus => read.identity_status(payload)?,
            Command::IdentityList => read.identity_list(payload)?,
            _ => return Err(misrouted(cmd)),
        }
    }
    Ok(read.out.freeze())
}

/// A read batch being answered: what its requests share, and the response frames so far.
struct Read<'a> {
    state: &'a State,
    access: &'a Access,
    caller: &'a Caller,
    enclave: &'a str,
    cmd: Command,
    out: BytesMut,
}

impl Read<'_> {
    /// `ENCLAVE:STATUS`.
    fn enclave_status(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: EnclaveRequest = decode(cmd, payload)?;
        put_frame(out, id, &enclave_status(state.enclave_info(&req.name)?));
        Ok(())
    }

    /// `ENCLAVE:LIST`.
    fn enclave_list(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: ListRequest = decode(cmd, payload)?;
        let page = state.list_enclaves(&req.prefix, &req.continue_at, list_limit(req.limit));
        put_frame(
            out,
            id,
            &ListEnclavesResponse {
                enclaves: page.items.into_iter().map(enclave_status).collect(),
                continue_at: page.continue_at,
            },
        );
        Ok(())
    }

    /// `KEY:STATUS`.
    fn key_status(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: KeyStatusRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        put_frame(
            out,
            id,
            &key_status(state.key_info(enclave, &req.name, req.version)?),
        );
        Ok(())
    }

    /// `KEY:ENCRYPT`.
    fn key_encrypt(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let mut req: EncryptRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let sealed = state.encrypt(
            enclave,
            &req.name,
            req.version,
            &req.plaintext,
            &req.associated_data,
        );
        zeroize::Zeroize::zeroize(&mut req.plaintext);
        let (version, ciphertext) = sealed?;
        put_frame(
            out,
            id,
            &EncryptResponse {
                version,
                ciphertext,
            },
        );
        Ok(())
    }

    /// `KEY:DECRYPT`.
    fn key_decrypt(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: DecryptRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let plaintext = state.decrypt(
            enclave,
            &req.name,
            req.version,
            &req.ciphertext,
            &req.associated_data,
        )?;
        put_frame(
            out,
            id,
            &DecryptResponse {
                plaintext: plaintext.to_vec(),
            },
        );
        Ok(())
    }

    /// `KEY:GENERATE`.
    fn key_generate(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: GenerateKeyRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let dk = state.generate(
            enclave,
            &req.name,
            req.version,
            &req.associated_data,
            req.length as usize,
        )?;
        put_frame(
            out,
            id,
            &GenerateKeyResponse {
                version: dk.version,
                plaintext: dk.plaintext.to_vec(),
                ciphertext: dk.ciphertext,
            },
        );
        Ok(())
    }

    /// `KEY:MAC`.
    fn key_mac(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: MacRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let (version, mac) = state.mac(enclave, &req.name, req.version, &req.message)?;
        put_frame(
            out,
            id,
            &MacResponse {
                version,
                mac: mac.to_vec(),
            },
        );
        Ok(())
    }

    /// `KEY:LIST`.
    fn key_list(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: ListRequest = decode(cmd, payload)?;
        let visible = access.list_filter(cmd)?;
        let page = state.list_keys(
            enclave,
            &req.prefix,
            &req.continue_at,
            list_limit(req.limit),
            visible,
        )?;
        put_frame(
            out,
            id,
            &ListKeysResponse {
                keys: page.items.into_iter().map(key_status).collect(),
                continue_at: page.continue_at,
            },
        );
        Ok(())
    }

    /// `KEY:LISTVERSIONS`.
    fn key_list_versions(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: ListRequest = decode(cmd, payload)?;
        access.check(cmd, &req.prefix)?;
        let versions = state.key_versions(enclave, &req.prefix)?;
        put_frame(
            out,
            id,
            &ListKeysResponse {
                keys: versions.into_iter().map(key_status).collect(),
                continue_at: String::new(),
            },
        );
        Ok(())
    }

    /// `POLICY:GET`.
    fn policy_get(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: PolicyRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let p = state.policy_info(enclave, &req.name)?;
        put_frame(
            out,
            id,
            &PolicyResponse {
                name: p.name.clone(),
                allow: wire_rules(&p.policy.allow),
                deny: wire_rules(&p.policy.deny),
                created_at: timestamp(p.created_at),
                created_by: p.created_by.clone(),
            },
        );
        Ok(())
    }

    /// `POLICY:STATUS`.
    fn policy_status(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: PolicyRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        put_frame(
            out,
            id,
            &policy_status(&state.policy_info(enclave, &req.name)?),
        );
        Ok(())
    }

    /// `POLICY:LIST`.
    fn policy_list(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: ListRequest = decode(cmd, payload)?;
        let visible = access.list_filter(cmd)?;
        let page = state.list_policies(
            enclave,
            &req.prefix,
            &req.continue_at,
            list_limit(req.limit),
            visible,
        )?;
        put_frame(
            out,
            id,
            &ListPoliciesResponse {
                policies: page.items.iter().map(policy_status).collect(),
                continue_at: page.continue_at,
            },
        );
        Ok(())
    }

    /// `IDENTITY:STATUS`.
    fn identity_status(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let caller = self.caller;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: IdentityRequest = decode(cmd, payload)?;
        // Every identity may look itself up.
        if caller.identity.as_ref().map(Identity::as_str) != Some(req.identity.as_str()) {
            access.check(cmd, &req.identity)?;
        }
        put_frame(
            out,
            id,
            &identity_response(state.identity_info(enclave, &req.identity)?),
        );
        Ok(())
    }

    /// `IDENTITY:LIST`.
    fn identity_list(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let id = self.cmd.id();
        let out = &mut self.out;
        let req: ListRequest = decode(cmd, payload)?;
        let visible = access.list_filter(cmd)?;
        let page = state.list_identities(
            enclave,
            &req.prefix,
            &req.continue_at,
            list_limit(req.limit),
            visible,
        )?;
        put_frame(
            out,
            id,
            &ListIdentitiesResponse {
                identities: page.items.into_iter().map(identity_response).collect(),
                continue_at: page.continue_at,
            },
        );
        Ok(())
    }
}

/// `CLUSTER:ADDHSM` / `CLUSTER:REMOVEHSM`: seal the root key with one more configured HSM, or
/// drop one HSM's sealed copy (never the last, never the communication HSM's). Calls the HSM:
/// run it on a blocking thread.
pub(crate) fn change_hsms(node: &Node, caller: &Caller, batch: &Batch) -> Result<(), ApiError> {
    if !caller.is_root {
        return Err(ApiError::forbidden());
    }
    let conflict = |m: String| ApiError::new(http::StatusCode::CONFLICT, m);
    match batch.cmd {
        Command::ClusterAddHsm => {
            let req: AddHsmRequest = decode(batch.cmd, &batch.payloads[0])?;
            let backend = node
                .hsms
                .backends()
                .iter()
                .find(|b| b.id() == req.name)
                .ok_or_else(|| {
                    ApiError::new(
                        http::StatusCode::NOT_FOUND,
                        format!("HSM {} is not configured on this node", req.name),
                    )
                })?;
            Ok(node
                .keystore
                .add_sealed_key(backend.as_ref(), req.overwrite)?)
        }
        Command::ClusterRemoveHsm => {
            let req: RemoveHsmRequest = decode(batch.cmd, &batch.payloads[0])?;
            if !node.left_out_hsms.is_empty() {
                // Which sealed copies are safe to drop cannot be judged without every HSM.
                return Err(conflict(format!(
                    "cannot remove sealed root keys while configured HSMs are unreachable: {}",
                    node.left_out_hsms.join("; ")
                )));
            }
            if node.hsms.communication().id() == req.name {
                return Err(conflict(format!(
                    "HSM {} is the communication HSM: it cannot be removed",
                    req.name
                )));
            }
            Ok(node.keystore.remove_sealed_key(&req.name)?)
        }
        other => Err(misrouted(other)),
    }
}

/// The keys a read addresses by name, for the commands that do (encrypt, decrypt, generate,
/// MAC, key status and versions): such a read waits only on a pending change of those keys.
/// `None` for every other request, which waits on any pending change of its enclave.
pub(crate) fn read_keys(batch: &Batch) -> Option<Vec<String>> {
    match batch.cmd {
        Command::KeyEncrypt
        | Command::KeyDecrypt
        | Command::KeyGenerate
        | Command::KeyMac
        | Command::KeyStatus
        | Command::KeyListVersions => batch
            .payloads
            .iter()
            .map(|p| {
                crate::api::audit::FirstField::decode(p.clone())
                    .ok()
                    .map(|f| f.name)
            })
            .collect(),
        _ => None,
    }
}

/// Checks that `caller` may run `cmd` in `enclave`.
pub(crate) fn check_access(
    node: &Node,
    caller: &Caller,
    enclave: &str,
    cmd: Command,
) -> Result<(), ApiError> {
    Access::resolve(caller, &node.keystore.state(), cmd, enclave).map(|_| ())
}

/// `CLUSTER:ADDNODE` / `CLUSTER:REMOVENODE` / `CLUSTER:EDIT`: membership changes, root only.
/// A node of another cluster (or with another HSM key) is refused with a message that says so.
pub(crate) async fn change_members(
    node: &Node,
    caller: &Caller,
    batch: &Batch,
) -> Result<(), ApiError> {
    if !caller.is_root {
        return Err(ApiError::forbidden());
    }
    match batch.cmd {
        Command::ClusterAddNode => {
            let req: AddClusterNodeRequest = decode(batch.cmd, &batch.payloads[0])?;
            let host = minkms_client::normalize_endpoint(&req.host);
            if host == node.host {
                return Err(ApiError::new(
                    http::StatusCode::CONFLICT,
                    format!("node {host} is already part of this cluster"),
                ));
            }
            Ok(node.cluster.add(node, &host).await?)
        }
        Command::ClusterRemoveNode => {
            let req: RemoveClusterNodeRequest = decode(batch.cmd, &batch.payloads[0])?;
            // A node id, or the node's host:port.
            let host = if req.host.parse::<u32>().is_ok() {
                req.host.clone()
            } else {
                minkms_client::normalize_endpoint(&req.host)
            };
            Ok(node
                .cluster
                .remove(node, &host, req.delete_cluster_on_host)
                .await?)
        }
        Command::ClusterEdit => {
            let req: EditClusterRequest = decode(batch.cmd, &batch.payloads[0])?;
            if req.accept_fork {
                let old = node.keystore.forked_from();
                if !node.keystore.accept_fork()? {
                    return Err(ApiError::new(
                        http::StatusCode::CONFLICT,
                        "this node is not a fork: it was not removed with --delete-cluster, or its fork was accepted already",
                    ));
                }
                tracing::warn!(forked_from = ?old, "fork accepted: this node takes writes as a cluster of its own");
            }
            if req.remove.len() > 1 {
                tracing::warn!(
                    count = req.remove.len(),
                    "edit removes several nodes: one epoch each, one at a time"
                );
            }
            for id in req.remove {
                node.cluster.force_remove(node, u64::from(id)).await?;
            }
            Ok(())
        }
        other => Err(misrouted(other)),
    }
}

/// Turns a write request into a keystore command, checking who may make it.
pub(crate) fn plan_write(
    node: &Node,
    caller: &Caller,
    enclave: &str,
    batch: &Batch,
) -> Result<ks::Command, ApiError> {
    let state = node.keystore.state();
    let cmd = batch.cmd;
    let payload = &batch.payloads[0];
    let access = Access::resolve(caller, &state, cmd, enclave)?;
    let (at, by) = (Timestamp::now(), caller.name());
    let enclave = enclave.to_string();
    Ok(match cmd {
        Command::EnclaveCreate => {
            let req: EnclaveRequest = decode(cmd, payload)?;
            ks::Command::CreateEnclave {
                name: req.name,
                at,
                by,
            }
        }
        Command::EnclaveDelete => {
            let req: EnclaveRequest = decode(cmd, payload)?;
            ks::Command::DeleteEnclave { name: req.name }
        }
        Command::KeyCreate => {
            let req: CreateKeyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            let kind = KeyType::parse(&req.r#type)?;
            ks::Command::CreateKey {
                enclave,
                name: req.name,
                kind,
                material: KeyMaterial::generate(),
                add_version: req.add_version,
                imported: false,
                at,
                by,
            }
        }
        Command::KeyImport => {
            let mut req: ImportKeyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            let kind = KeyType::parse(&req.r#type)?;
            let material = KeyMaterial::from_slice(&req.key);
            zeroize::Zeroize::zeroize(&mut req.key);
            ks::Command::CreateKey {
                enclave,
                name: req.name,
                kind,
                material: material?,
                add_version: false,
                imported: true,
                at,
                by,
            }
        }
        Command::KeyDelete => {
            let req: DeleteKeyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            ks::Command::DeleteKey {
                enclave,
                name: req.name,
                version: req.version,
                all: req.all_versions,
            }
        }
        Command::PolicyCreate => {
            let req: CreatePolicyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            let policy = policy_from_wire(&req)?;
            let policy_json = serde_json::to_string(&policy)
                .map_err(|e| ApiError::bad_request(format!("invalid policy: {e}")))?;
            ks::Command::CreatePolicy {
                enclave,
                name: req.name,
                policy_json,
                at,
                by,
            }
        }
        Command::PolicyDelete => {
            let req: PolicyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            ks::Command::DeletePolicy {
                enclave,
                name: req.name,
            }
        }
        Command::PolicyAssign => {
            let req: AssignPolicyRequest = decode(cmd, payload)?;
            if !access.is_admin() {
                return Err(ApiError::forbidden());
            }
            ks::Command::AssignPolicy {
                enclave,
                identity: req.identity,
                policy: req.policy,
            }
        }
        Command::IdentityCreate => {
            let req: CreateIdentityRequest = decode(cmd, payload)?;
            plan_identity_create(&state, &node.root, &access, enclave, req, at, by)?
        }
        Command::IdentityDelete => {
            let req: IdentityRequest = decode(cmd, payload)?;
            access.check(cmd, &req.identity)?;
            if let Access::User(_) = access {
                // A user may only delete its own service accounts.
                let target = state.identity_info(&enclave, &req.identity)?;
                if !target.is_service_account || target.created_by != by {
                    return Err(ApiError::forbidden());
                }
            }
            ks::Command::DeleteIdentity {
                enclave,
                identity: req.identity,
            }
        }
        _ => return Err(misrouted(cmd)),
    })
}

fn plan_identity_create(
    state: &State,
    root: &Identity,
    access: &Access,
    enclave: String,
    req: CreateIdentityRequest,
    at: Timestamp,
    by: String,
) -> Result<ks::Command, ApiError> {
    let identity =
        Identity::parse(&req.identity).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if matches!(access, Access::Root) && req.is_service_account {
        return Err(ApiError::bad_request(
            "invalid request: the root identity cannot have service accounts",
        ));
    }
    if &identity == root {
        return Err(ApiError::bad_request(
            "invalid identity: the root identity cannot be added to an enclave",
        ));
    }
    let mut privilege = Privilege::parse(&req.privilege)?;
    let parent = if req.is_service_account {
        by.clone()
    } else {
        String::new()
    };
    match access {
        Access::Root | Access::Admin => {}
        Access::User(_) => {
            // Users may only create service accounts of their own, acting as themselves, and
            // never take over an identity that exists.
            access.check(Command::IdentityCreate, identity.as_str())?;
            if !req.is_service_account || state.identity_info(&enclave, identity.as_str()).is_ok() {
                return Err(ApiError::forbidden());
            }
            privilege = Privilege::User;
        }
    }
    Ok(ks::Command::CreateIdentity {
        enclave,
        identity: identity.to_string(),
        privilege,
        parent,
        tags: req.tags.into_iter().collect(),
        at,
        by,
    })
}
