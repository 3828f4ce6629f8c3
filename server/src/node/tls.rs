//! The server's TLS: its certificate (from the config, or self-signed), and client
//! certificates requested but never chain-verified (API.md §1, §4): a client proves it holds
//! the key of its certificate by the handshake signature, which is really checked (Ed25519
//! included), and its identity is the hash of that key.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use minkms_client::{provider, Identity, NodeName, SignatureCheck};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::cluster::peer::{Peer, PEER_ALPN};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

/// Any client certificate, signature checked.
#[derive(Debug)]
struct AnyClientCertificate(SignatureCheck);

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // `/version` and `/v1/health/*` are probed without certificates (curl, load balancers).
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

/// A server certificate chain and its key.
#[derive(Debug)]
pub(crate) struct ServerCertificate {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl ServerCertificate {
    /// Reads PEM files. Errors name the file, never its content.
    pub(crate) fn from_pem_files(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let cert_pem = std::fs::read(cert)
            .with_context(|| format!("failed to read TLS certificate {}", cert.display()))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("failed to parse TLS certificate {}", cert.display()))?;
        anyhow::ensure!(
            !chain.is_empty(),
            "no certificate found in {}",
            cert.display()
        );
        let key_pem = zeroize::Zeroizing::new(
            std::fs::read(key)
                .with_context(|| format!("failed to read TLS private key {}", key.display()))?,
        );
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .ok()
            .with_context(|| format!("no valid private key found in {}", key.display()))?;
        Ok(Self { chain, key })
    }

    /// A fresh self-signed ECDSA P-256 certificate for `names` (DNS names or IPs). Clients must
    /// use `--insecure` (`-k`) with it.
    pub(crate) fn self_signed(names: Vec<String>) -> anyhow::Result<Self> {
        let pair = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "minkms self-signed");
        let cert = params.self_signed(&pair)?;
        Ok(Self {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(pair.serialize_der().into()),
        })
    }
}

/// Chooses the certificate for a connection: the node certificate for peers (they offer
/// [`PEER_ALPN`]) once the node knows its name, the API certificate for everyone else.
#[derive(Debug)]
pub(crate) struct Certificates {
    api: Arc<CertifiedKey>,
    peer: OnceLock<Arc<Peer>>,
}

impl Certificates {
    /// Serves `peer`'s certificate to peers from now on (known once the HSM has been reached).
    pub(crate) fn set_peer(&self, peer: Arc<Peer>) {
        let _ = self.peer.set(peer);
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let wants_peer = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == PEER_ALPN));
        if wants_peer {
            // Sealed: the node key is not known yet. Refusing the handshake is honest; the
            // API certificate would make the caller think this node is of another cluster.
            self.peer.get().and_then(|peer| peer.certified_key())
        } else {
            Some(self.api.clone())
        }
    }
}

/// The server's rustls configuration: TLS 1.2 and 1.3 with rustls' safe defaults, h2 and
/// http/1.1 by ALPN, client certificates requested, and the certificate chosen per connection.
pub(crate) fn server_config(
    cert: ServerCertificate,
) -> anyhow::Result<(ServerConfig, Arc<Certificates>)> {
    let provider = provider();
    let api = Arc::new(CertifiedKey::from_der(cert.chain, cert.key, &provider)?);
    let certificates = Arc::new(Certificates {
        api,
        peer: OnceLock::new(),
    });
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(AnyClientCertificate(SignatureCheck::default())))
        .with_cert_resolver(certificates.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, certificates))
}

/// What a certificate says about its holder: its identity (the hash of its
/// SubjectPublicKeyInfo) and the node its common name claims to be, if any (a claim that
/// `Peer::proves` checks). `None` for a certificate that does not parse (the handshake
/// already proved key possession).
pub(crate) fn names_of(cert: &CertificateDer<'_>) -> Option<(Identity, Option<NodeName>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let identity = Identity::from_spki(parsed.tbs_certificate.subject_pki.raw);
    let node = parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .and_then(NodeName::from_common_name);
    Some((identity, node))
}
