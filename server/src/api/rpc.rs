//! `POST /v1/rpc/*`: what peers send each other. Only callers whose certificate proves a node
//! name get here (http.rs). Then the name decides, before anything is read or done:
//! `join` is taken from a member of the cluster being joined; everything else only from a
//! member of this node's cluster (two clusters may share an HSM key), a protocol message only
//! under its sender's own id, and a removed node only gets a probe answered, so that it can
//! learn it was removed.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use minkms_client::NodeName;
use minkms_replication::{Envelope, Message};

use crate::api::error::ApiError;
use crate::cluster::{Forwarded, Join, Removed};
use crate::node::state::Node;

/// Largest snapshot a joining node accepts.
const MAX_SNAPSHOT: usize = 1 << 30;
/// Largest protocol message or forwarded write.
const MAX_MESSAGE: usize = 8 << 20;

pub(crate) async fn handle(
    node: Arc<Node>,
    from: NodeName,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let path = req.uri().path().to_string();
    let join = path == "/v1/rpc/join";
    if !join {
        let ours = node.keystore.info().cluster_id.to_string();
        if from.cluster != ours {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "node of another cluster: the cluster ids differ",
            ));
        }
    }
    // A node being added is heard on the protocol before its config entry commits; writes,
    // membership changes and removal notices come from committed members only.
    let admitted = match path.as_str() {
        "/v1/rpc/join" => true,
        "/v1/rpc/replicate" => node.cluster.admits(from.id),
        _ => node.cluster.is_member(from.id),
    };
    if !admitted && path != "/v1/rpc/replicate" {
        return Err(not_a_member(&from));
    }
    let limit = if join { MAX_SNAPSHOT } else { MAX_MESSAGE };
    let body = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))?
        .to_bytes();
    let bad = |e: postcard::Error| ApiError::bad_request(format!("invalid request: {e}"));
    match path.as_str() {
        "/v1/rpc/replicate" => {
            let env: Envelope = postcard::from_bytes(&body).map_err(bad)?;
            if env.from != from.id {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "message of node {} sent by {from}: a node speaks only for itself",
                        env.from
                    ),
                ));
            }
            if !admitted && !matches!(env.msg, Message::Probe { .. }) {
                return Err(not_a_member(&from));
            }
            node.cluster.deliver(env);
        }
        "/v1/rpc/forward" => match postcard::from_bytes(&body).map_err(bad)? {
            Forwarded::Write(cmd) => {
                node.keystore.check(&cmd)?;
                // The leader persists first: its volume must have room too.
                node.volume.check()?;
                node.cluster.write_here(cmd).await?;
            }
            Forwarded::Add(host) => node.cluster.add(&node, &host).await?,
            Forwarded::Remove { host, delete } => node.cluster.remove(&node, &host, delete).await?,
        },
        "/v1/rpc/join" => {
            let join: Join = postcard::from_bytes(&body).map_err(bad)?;
            if !join.sent_by_member(&from) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("join sent by {from}, which is not a member of the cluster it offers"),
                ));
            }
            node.cluster.install(&node, join).await?;
        }
        "/v1/rpc/removed" => {
            let removed: Removed = postcard::from_bytes(&body).map_err(bad)?;
            node.cluster.removal_notice(removed.delete()).await?;
        }
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "not found")),
    }
    Ok(Response::new(Full::new(Bytes::new())))
}

fn not_a_member(from: &NodeName) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "server not part of cluster: node {} is not a member of this cluster (it was removed, or never added)",
            from.id
        ),
    )
}
