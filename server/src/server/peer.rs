//! Node-to-node trust (SEALING.md, seed 002): every node derives the same Ed25519 key pair from
//! its communication HSM, presents its self-signed certificate to peers, and accepts only that
//! exact public key from them, in both directions. A node holding another HSM key derives
//! another key pair, so nodes of different clusters cannot talk to each other.
//!
//! Peers use the API port: a client offering the ALPN protocol [`PEER_ALPN`] is served the
//! peer certificate instead of the API certificate, and `/v1/rpc/*` answers only clients whose
//! certificate is the peer certificate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use minkms_client::wire::ServerStatusResponse;
use minkms_client::{provider, ApiKey, Identity, SignatureCheck};
use minkms_hsm::{BackendSet, HsmError};
use prost::Message;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use secrecy::ExposeSecret;
use std::net::IpAddr;

use super::tls::identity_of;

/// The ALPN protocol a peer offers (besides HTTP) to be served the peer certificate.
pub(crate) const PEER_ALPN: &[u8] = b"minkms-peer/1";
/// The label under which the peer key is derived from the communication secret.
const PEER_KEY_PURPOSE: &str = "minkms/v1/peer-tls";
/// What a node says when the other end is not of its cluster.
pub(crate) const NOT_A_PEER: &str =
    "it holds a different HSM communication key (its certificate is not this cluster's)";

/// This cluster's peer identity.
pub(crate) struct Peer {
    /// The identity (`h1:` of the public key) every peer presents.
    pub(crate) identity: Identity,
    certified: Arc<CertifiedKey>,
    client: Arc<ClientConfig>,
    local: std::sync::OnceLock<IpAddr>,
    /// Open connections to other nodes between forwarded writes, with when each went idle: a
    /// TLS handshake per forward cost more than the forward itself.
    idle: parking_lot::Mutex<HashMap<String, Vec<(PeerSender, Instant)>>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Accepts exactly the peer certificate's key, signatures checked.
#[derive(Debug)]
struct PinnedPeer {
    identity: Identity,
    signatures: SignatureCheck,
}

impl ServerCertVerifier for PinnedPeer {
    fn verify_server_cert(
        &self,
        cert: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if identity_of(cert).as_ref() == Some(&self.identity) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(NOT_A_PEER.into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.schemes()
    }
}

/// Why a peer call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    /// The other node is not of this cluster.
    #[error("{NOT_A_PEER}")]
    NotAPeer,
    /// It could not be reached or did not answer.
    #[error("{0}")]
    Unreachable(String),
}

impl Peer {
    /// Derives the peer key from the communication HSM.
    pub(crate) fn derive(hsms: &BackendSet) -> Result<Self, HsmError> {
        let seed = hsms.derive_key(PEER_KEY_PURPOSE)?;
        let key = ApiKey::from_seed(*seed.expose_secret());
        let identity = key.identity().clone();
        let provider = provider();
        let certified = Arc::new(
            CertifiedKey::from_der(
                vec![key.peer_certificate()],
                key.private_key_der(),
                &provider,
            )
            .map_err(|e| HsmError::Config(format!("cannot build the peer certificate: {e}")))?,
        );
        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| HsmError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedPeer {
                identity: identity.clone(),
                signatures: SignatureCheck::default(),
            }))
            .with_client_auth_cert(vec![key.peer_certificate()], key.private_key_der())
            .map_err(|e| HsmError::Config(format!("cannot build the peer client: {e}")))?;
        client.alpn_protocols = vec![b"http/1.1".to_vec(), PEER_ALPN.to_vec()];
        Ok(Self {
            identity,
            certified,
            client: Arc::new(client),
            local: std::sync::OnceLock::new(),
            idle: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// The certificate and key served to peers.
    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        self.certified.clone()
    }

    /// Whether a client identity is a peer of this cluster.
    pub(crate) fn is_peer(&self, identity: Option<&Identity>) -> bool {
        identity == Some(&self.identity)
    }

    /// Asks the node at `host` (`host:port`) for its status over the peer channel.
    pub(crate) async fn status(&self, host: &str) -> Result<ServerStatusResponse, PeerError> {
        let (status, body) = self
            .call_once(host, Method::GET, "/v1/rpc/status", None, Bytes::new())
            .await?;
        if status != 200 {
            return Err(PeerError::Unreachable(format!("{host} answered {status}")));
        }
        ServerStatusResponse::decode(body)
            .map_err(|e| PeerError::Unreachable(format!("invalid status from {host}: {e}")))
    }

    /// Outgoing peer connections leave from this address, so that per-node network rules
    /// (and the peers' logs) see which node is talking.
    pub(crate) fn bind_to(&self, ip: IpAddr) {
        let _ = self.local.set(ip);
    }

    /// One request on a fresh connection.
    pub(crate) async fn call_once(
        &self,
        host: &str,
        method: Method,
        path: &str,
        cluster: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), PeerError> {
        let mut sender = self.connect(host).await?;
        let request = PeerRequest {
            method,
            path,
            cluster,
            body,
            timeout: CALL_TIMEOUT,
        };
        self.call(&mut sender, host, request).await
    }

    /// Keeps a connection that just got an answer for the next call to `host`.
    pub(crate) fn keep_idle(&self, host: &str, sender: PeerSender) {
        let mut idle = self.idle.lock();
        // Connections too old to reuse are closed here, for every host: after a burst of
        // forwarded writes they would otherwise stay open (a socket each, on both nodes)
        // until the next write to the same host, or for good to a host that left.
        idle.retain(|_, list| {
            list.retain(|(sender, since)| since.elapsed() < IDLE_REUSE && sender.is_ready());
            !list.is_empty()
        });
        let list = idle.entry(host.to_string()).or_default();
        if list.len() < MAX_IDLE_PER_HOST {
            list.push((sender, Instant::now()));
        }
    }

    /// An idle connection to `host` that is open and younger than [`IDLE_REUSE`].
    pub(crate) fn take_idle(&self, host: &str) -> Option<PeerSender> {
        let mut idle = self.idle.lock();
        let list = idle.get_mut(host)?;
        while let Some((sender, since)) = list.pop() {
            if since.elapsed() < IDLE_REUSE && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Opens a connection to `host` over the peer channel (mutual TLS, pinned both ways).
    pub(crate) async fn connect(&self, host: &str) -> Result<PeerSender, PeerError> {
        let unreachable = |what: &str, e: &dyn std::fmt::Display| {
            PeerError::Unreachable(format!("{what} {host}: {e}"))
        };
        let connect = async {
            let addr = tokio::net::lookup_host(host)
                .await?
                .next()
                .ok_or_else(|| std::io::Error::other("no address"))?;
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            if let Some(ip) = self.local.get().filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
                socket.bind(std::net::SocketAddr::new(*ip, 0))?;
            }
            let tcp = socket.connect(addr).await?;
            tcp.set_nodelay(true)?;
            Ok::<_, std::io::Error>(tcp)
        };
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| PeerError::Unreachable(format!("cannot connect to {host}: timed out")))?
            .map_err(|e| unreachable("cannot connect to", &e))?;
        let name = host
            .rsplit_once(':')
            .map_or(host, |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_string();
        let name = ServerName::try_from(name).map_err(|e| unreachable("invalid host", &e))?;
        let tls = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_rustls::TlsConnector::from(self.client.clone()).connect(name, tcp),
        )
        .await
        .map_err(|_| PeerError::Unreachable(format!("no TLS handshake with {host}")))?
        .map_err(|e| {
            if e.to_string().contains(NOT_A_PEER) {
                PeerError::NotAPeer
            } else {
                unreachable("no peer channel (the node may be sealed) with", &e)
            }
        })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| unreachable("HTTP with", &e))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// One request on an open connection, with a deadline (a connection can stay open through
    /// a partition or a stopped process).
    pub(crate) async fn call(
        &self,
        sender: &mut PeerSender,
        host: &str,
        req: PeerRequest<'_>,
    ) -> Result<(u16, Bytes), PeerError> {
        let PeerRequest {
            method,
            path,
            cluster,
            body,
            timeout,
        } = req;
        let unreachable = |what: &str, e: &dyn std::fmt::Display| {
            PeerError::Unreachable(format!("{what} {host}: {e}"))
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, host);
        if let Some(id) = cluster {
            request = request.header(CLUSTER_HEADER, id);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| unreachable("request to", &e))?;
        let exchange = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| unreachable("request to", &e))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable("reading from", &e))?
                .to_bytes();
            Ok::<_, PeerError>((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| PeerError::Unreachable(format!("{host} did not answer in time")))??;
        if status == 403 {
            return Err(PeerError::NotAPeer);
        }
        Ok((status, body))
    }
}

/// One call over the peer channel.
#[derive(Debug)]
pub(crate) struct PeerRequest<'a> {
    pub(crate) method: Method,
    pub(crate) path: &'a str,
    /// The sender's cluster id, checked by the receiver.
    pub(crate) cluster: Option<&'a str>,
    pub(crate) body: Bytes,
    pub(crate) timeout: Duration,
}

/// The sending half of a peer connection.
pub(crate) type PeerSender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
/// The header that carries the sender's cluster id on `/v1/rpc/*` calls: two clusters may
/// share an HSM key, and with it the peer certificate.
pub(crate) const CLUSTER_HEADER: &str = "x-minkms-cluster";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an idle peer connection is reused: below the shortest time a node keeps an idle
/// connection open (its request timeout, at least 1 s), so a reused connection is never one
/// the other side is closing, and a forwarded write never fails for that.
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

    #[test]
    fn same_hsm_key_same_peer_identity_and_another_key_another() {
        let key = SoftHsm::generate_key();
        let a = Peer::derive(&set(&key)).unwrap();
        let b = Peer::derive(&set(&key)).unwrap();
        assert_eq!(a.identity, b.identity);
        assert!(a.is_peer(Some(&b.identity)));
        let c = Peer::derive(&set(&SoftHsm::generate_key())).unwrap();
        assert!(!a.is_peer(Some(&c.identity)));
        assert!(!a.is_peer(None));
        // The peer key is not the root API key.
        assert_ne!(
            &a.identity,
            super::super::root_api_key(&set(&key)).unwrap().identity()
        );
    }
}
