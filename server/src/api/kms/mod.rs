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

mod admin;
mod read;
mod wrapping;
mod write;

pub(crate) use admin::{change_hsms, change_members};
pub(crate) use read::read;
pub(crate) use write::plan_write;

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
                    | Command::KeyWrappingKey
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
    let mut msg = M::default();
    decode_into(cmd, payload, &mut msg)?;
    Ok(msg)
}

/// Decodes `payload` into `msg`, which keeps its buffers: the frames of a batch decode into
/// one message.
fn decode_into<M: Message>(cmd: Command, payload: &Bytes, msg: &mut M) -> Result<(), ApiError> {
    msg.clear();
    msg.merge(payload.as_ref()).map_err(|_| {
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
    enclave: &str,
    batch: Batch,
) -> Result<Bytes, ApiError> {
    if batch.cmd == Command::KeyWrappingKey {
        return Box::pin(wrapping::wrapping_key(node, caller, enclave, batch)).await;
    }
    if batch.cmd.is_write() || batch.cmd.is_cluster() {
        // Writes and cluster commands wait on the cluster; their futures are large, so they
        // live on the heap and reads, the common case, stay small to spawn and move.
        return Box::pin(change(node, caller, enclave, batch)).await;
    }
    node.cluster
        .readable(enclave, keys_to_wait_for(&node, enclave, &batch).as_deref())
        .await?;
    read(&node, &caller, enclave, &batch)
}

/// A write or a cluster command.
async fn change(
    node: Arc<Node>,
    caller: Arc<Caller>,
    enclave: &str,
    batch: Batch,
) -> Result<Bytes, ApiError> {
    match batch.cmd {
        Command::ClusterAddNode | Command::ClusterRemoveNode | Command::ClusterEdit => {
            change_members(&node, &caller, &batch).await?;
            Ok(Bytes::new())
        }
        Command::ClusterStatus => {
            check_access(&node, &caller, enclave, batch.cmd)?;
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
            node.cluster.readable(enclave, None).await?;
            let cmd = plan_write(&node.keystore.state(), &node.root, &caller, enclave, &batch)?;
            node.keystore.check(&cmd)?;
            node.cluster.write(&node, cmd).await?;
            Ok(Bytes::new())
        }
        _ => {
            node.cluster
                .readable(enclave, keys_to_wait_for(&node, enclave, &batch).as_deref())
                .await?;
            read(&node, &caller, enclave, &batch)
        }
    }
}

/// The keys a read waits for: those it names when that matters (see `names_matter`), else
/// `None`, which waits at least as long.
fn keys_to_wait_for(node: &Node, enclave: &str, batch: &Batch) -> Option<Vec<String>> {
    if node.cluster.names_matter(enclave) {
        read_keys(batch)
    } else {
        None
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
