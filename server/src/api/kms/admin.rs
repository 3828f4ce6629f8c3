//! Cluster and HSM administration: membership changes and the HSMs that seal the root key.

use super::*;

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
