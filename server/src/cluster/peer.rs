//! Node-to-node trust (SEALING.md): every node derives the same peer secret from its
//! communication HSM, and from it the Ed25519 key of each node by cluster id and node id
//! (`minkms_client::NodeName`). A node presents its own self-signed certificate, naming it, to
//! peers, and accepts a peer certificate only when its key is the one derived for the node it
//! names, in both directions. A node holding another HSM key derives other keys, so nodes of
//! different clusters cannot talk to each other; which named nodes a node listens to is the
//! membership's business (rpc.rs).
//!
//! Peers use the API port: a client offering the ALPN protocol [`PEER_ALPN`] is served the
//! node certificate instead of the API certificate, and `/v1/rpc/*` answers only clients whose
//! certificate passes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};
use minkms_client::wire::ServerStatusResponse;
use minkms_client::{
    error_chain, https_client, provider, tls_client_config, HttpsClient, Identity, NodeName,
    PeerSecret, ServerCertificateRule, ServerTrust, Transport,
};
use minkms_hsm::{BackendSet, HsmError};
use prost::Message;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use crate::node::tls::names_of;

/// The ALPN protocol a peer offers (besides HTTP) to be served the peer certificate.
pub(crate) const PEER_ALPN: &[u8] = b"minkms-peer/1";
/// The label under which the peer secret is derived from the communication secret.
const PEER_SECRET_PURPOSE: &str = minkms_hsm::labels::PEER_TLS;
/// What a node says when the other end is not of its cluster.
pub(crate) const NOT_A_PEER: &str =
    "it holds a different HSM communication key (its certificate is not this cluster's)";

/// This node's standing on the peer channel: the secret that checks peers, and the name and
/// certificate it presents (from when its cluster id and node id are known).
pub(crate) struct Peer {
    secret: Arc<PeerSecret>,
    current: parking_lot::RwLock<Option<Presented>>,
    local: std::sync::OnceLock<IpAddr>,
}

/// What this node presents as server and as client.
struct Presented {
    name: NodeName,
    certified: Arc<CertifiedKey>,
    /// The pooled client of the peer channel: connections stay open between calls, since a
    /// TLS handshake per forwarded write cost more than the forward itself.
    http: HttpsClient,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// The name a certificate proves, when it proves one: its common name names a node and its
/// key is the one derived for that node.
fn proven_name(secret: &PeerSecret, cert: &CertificateDer<'_>) -> Option<NodeName> {
    let (identity, name) = names_of(cert)?;
    let name = name?;
    (secret.node_identity(&name) == identity).then_some(name)
}

/// Why a peer call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    /// The other node is not of this cluster.
    #[error("{NOT_A_PEER}")]
    NotAPeer,
    /// No connection could be made: the request was certainly not sent.
    #[error("{0}")]
    Unconnected(String),
    /// It did not answer: the request may or may not have been handled.
    #[error("{0}")]
    Unreachable(String),
    /// It answered with an error: its status and message (decoded, never the raw body).
    #[error("{message}")]
    Refused {
        /// The HTTP status it answered.
        status: u16,
        /// What it said.
        message: String,
    },
}

impl Peer {
    /// Derives the peer secret from the communication HSM.
    pub(crate) fn derive(hsms: &BackendSet) -> Result<Self, HsmError> {
        let secret = hsms.derive_key(PEER_SECRET_PURPOSE)?;
        Ok(Self {
            secret: Arc::new(PeerSecret::new(secret, minkms_hsm::labels::PEER_NODE)),
            current: parking_lot::RwLock::new(None),
            local: std::sync::OnceLock::new(),
        })
    }

    /// Presents this node as `name` from now on: at start-up, and when it joins a cluster or
    /// starts over as a new one. Connections opened under the old name are not reused.
    pub(crate) fn present_as(&self, name: NodeName) -> Result<(), HsmError> {
        let key = self.secret.node_key(&name);
        let cert = key.peer_certificate(&name.common_name());
        let provider = provider();
        let certified = Arc::new(
            CertifiedKey::from_der(vec![cert.clone()], key.private_key_der(), &provider)
                .map_err(|e| HsmError::Config(format!("cannot build the peer certificate: {e}")))?,
        );
        // Only a server that proves a node name of this cluster, signatures checked.
        let secret = self.secret.clone();
        let peers_only =
            ServerTrust::Verifier(Arc::new(ServerCertificateRule::new(
                move |cert| match proven_name(&secret, cert) {
                    Some(_) => Ok(()),
                    None => Err(rustls::Error::General(NOT_A_PEER.into())),
                },
            )));
        let mut client = tls_client_config(&peers_only, Some((cert, key.private_key_der())))
            .map_err(|e| HsmError::Config(format!("cannot build the peer client: {e}")))?;
        client.alpn_protocols = vec![b"http/1.1".to_vec(), PEER_ALPN.to_vec()];
        let transport = Transport {
            idle_timeout: IDLE_REUSE,
            max_idle_per_host: MAX_IDLE_PER_HOST,
            connect_timeout: Some(CONNECT_TIMEOUT),
            local_address: self.local.get().copied(),
            ..Transport::default()
        };
        // A new client, so connections opened under the old name are not reused.
        *self.current.write() = Some(Presented {
            name,
            certified,
            http: https_client(client, &transport),
        });
        Ok(())
    }

    /// The name this node presents; `None` before it is known.
    pub(crate) fn name(&self) -> Option<NodeName> {
        self.current.read().as_ref().map(|p| p.name.clone())
    }

    /// The certificate and key served to peers; `None` before the node's name is known.
    pub(crate) fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
        self.current.read().as_ref().map(|p| p.certified.clone())
    }

    /// The node a client's certificate proves to be (its identity and the name its common
    /// name claims, see `tls::names_of`); `None` for anyone else.
    pub(crate) fn proves(&self, identity: &Identity, claimed: &NodeName) -> Option<NodeName> {
        (self.secret.node_identity(claimed) == *identity).then(|| claimed.clone())
    }

    fn http(&self) -> Result<HttpsClient, PeerError> {
        self.current
            .read()
            .as_ref()
            .map(|p| p.http.clone())
            .ok_or_else(|| PeerError::Unconnected("this node's name is not known yet".into()))
    }

    /// Asks the node at `host` (`host:port`) for its status over the peer channel.
    pub(crate) async fn status(&self, host: &str) -> Result<ServerStatusResponse, PeerError> {
        let request = PeerRequest {
            method: Method::GET,
            path: "/v1/rpc/status",
            body: Bytes::new(),
            timeout: CALL_TIMEOUT,
        };
        let body = self.call(host, request).await.map_err(|e| match e {
            PeerError::Refused { status, .. } => {
                PeerError::Unreachable(format!("{host} answered {status}"))
            }
            other => other,
        })?;
        ServerStatusResponse::decode(body)
            .map_err(|e| PeerError::Unreachable(format!("invalid status from {host}: {e}")))
    }

    /// Outgoing peer connections leave from this address, so that per-node network rules
    /// (and the peers' logs) see which node is talking. Set before the node presents itself.
    pub(crate) fn bind_to(&self, ip: IpAddr) {
        let _ = self.local.set(ip);
    }

    /// One request to the node at `host` over the peer channel (mutual TLS, pinned both
    /// ways), on a pooled connection, with a deadline (a connection can stay open through a
    /// partition or a stopped process). The body of a 200 answer; any other is an error.
    pub(crate) async fn call(&self, host: &str, req: PeerRequest<'_>) -> Result<Bytes, PeerError> {
        let PeerRequest {
            method,
            path,
            body,
            timeout,
        } = req;
        let http = self.http()?;
        let request = http::Request::builder()
            .method(method)
            .uri(format!("https://{host}{path}"))
            .body(Full::new(body))
            .map_err(|e| PeerError::Unconnected(format!("invalid request to {host}: {e}")))?;
        let exchange = async {
            let response = http.request(request).await.map_err(|e| {
                let why = error_chain(&e);
                if why.contains(NOT_A_PEER) {
                    PeerError::NotAPeer
                } else if e.is_connect() {
                    PeerError::Unconnected(format!("cannot connect to {host}: {why}"))
                } else {
                    PeerError::Unreachable(format!("request to {host}: {why}"))
                }
            })?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| PeerError::Unreachable(format!("reading from {host}: {e}")))?
                .to_bytes();
            Ok::<_, PeerError>((status, content_type, body))
        };
        let (status, content_type, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| PeerError::Unreachable(format!("{host} did not answer in time")))??;
        match status {
            http::StatusCode::OK => Ok(body),
            http::StatusCode::FORBIDDEN => Err(PeerError::NotAPeer),
            _ => Err(PeerError::Refused {
                status: status.as_u16(),
                message: minkms_client::error_message(status, &content_type, &body),
            }),
        }
    }
}

/// One call over the peer channel.
#[derive(Debug)]
pub(crate) struct PeerRequest<'a> {
    pub(crate) method: Method,
    pub(crate) path: &'a str,
    pub(crate) body: Bytes,
    pub(crate) timeout: Duration,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an idle peer connection is kept for reuse: below the shortest time a node keeps an
/// idle connection open (its request timeout, at least 1 s), so a reused connection is never
/// one the other side is closing, and a forwarded write never fails for that.
const IDLE_REUSE: Duration = Duration::from_millis(800);
/// Idle connections kept per node.
const MAX_IDLE_PER_HOST: usize = 16;
/// For administrative calls (status, join with a snapshot).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use minkms_hsm::{SealingBackend, SoftHsm};

    fn set(key: &str) -> BackendSet {
        let soft: Arc<dyn SealingBackend> = Arc::new(SoftHsm::parse(key).unwrap());
        BackendSet::single(soft)
    }

    fn presented(peer: &Peer) -> CertificateDer<'static> {
        peer.certified_key().unwrap().cert[0].clone()
    }

    #[test]
    fn a_node_certificate_proves_its_name_to_holders_of_the_same_hsm_key_only() {
        let key = SoftHsm::generate_key();
        let a = Peer::derive(&set(&key)).unwrap();
        let b = Peer::derive(&set(&key)).unwrap();
        let c = Peer::derive(&set(&SoftHsm::generate_key())).unwrap();
        assert!(a.certified_key().is_none() && a.name().is_none());
        let one = NodeName::new("3f0e8c1a-1111-4222-8333-944455556666", 1).unwrap();
        a.present_as(one.clone()).unwrap();
        assert_eq!(a.name(), Some(one.clone()));
        assert_eq!(proven_name(&b.secret, &presented(&a)), Some(one.clone()));
        assert_eq!(proven_name(&c.secret, &presented(&a)), None);
        // Node 1's key under node 2's name proves nothing.
        let two = NodeName::new(one.cluster.clone(), 2).unwrap();
        let forged = a.secret.node_key(&one).peer_certificate(&two.common_name());
        assert_eq!(proven_name(&b.secret, &forged), None);
        // A name changes the certificate; the node key is not the root API key.
        a.present_as(two.clone()).unwrap();
        assert_eq!(proven_name(&b.secret, &presented(&a)), Some(two));
        assert_ne!(
            a.secret.node_identity(&one),
            *crate::node::root_api_key(&set(&key)).unwrap().identity()
        );
    }
}
