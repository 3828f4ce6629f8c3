//! `POST /v1/rpc/*`: what peers send each other. Only callers with this cluster's peer
//! certificate get here (http.rs); every call but `join` must also carry this cluster's id,
//! because two clusters may share an HSM key and with it the certificate.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use super::cluster::{Forwarded, Join, Removed};
use super::error::ApiError;
use super::node::Node;
use super::peer::CLUSTER_HEADER;

/// Largest snapshot a joining node accepts.
const MAX_SNAPSHOT: usize = 1 << 30;
/// Largest protocol message or forwarded write.
const MAX_MESSAGE: usize = 8 << 20;

pub(crate) async fn handle(
    node: Arc<Node>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let path = req.uri().path().to_string();
    let join = path == "/v1/rpc/join";
    if !join {
        let ours = node.keystore.info().cluster_id.to_string();
        let theirs = req
            .headers()
            .get(CLUSTER_HEADER)
            .and_then(|v| v.to_str().ok());
        if theirs != Some(ours.as_str()) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "node of another cluster: the cluster ids differ",
            ));
        }
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
            node.cluster
                .deliver(postcard::from_bytes(&body).map_err(bad)?);
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
            node.cluster.install(join).await?;
        }
        "/v1/rpc/removed" => {
            let removed: Removed = postcard::from_bytes(&body).map_err(bad)?;
            node.cluster.leave(removed.delete()).await?;
        }
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "not found")),
    }
    Ok(Response::new(Full::new(Bytes::new())))
}
