//! The one client-side TLS configuration of the project, used by the CLI and client library
//! (the certificate of an API key; system roots, a CA file or `--insecure`) and by nodes
//! calling their peers (a node certificate; a verifier that checks the peer's node identity).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{ApiKey, Error};

/// How the client decides to trust a server.
#[derive(Debug, Clone, Default)]
pub enum ServerTrust {
    /// The operating system's roots.
    #[default]
    System,
    /// Only these CA certificates (PEM file contents).
    Roots(Vec<CertificateDer<'static>>),
    /// Any certificate (`-k`): for self-signed development servers. The handshake signature is
    /// still checked, so the connection is encrypted to whoever holds the certificate's key.
    Insecure,
    /// A verifier of the caller's own (a node checking that a peer is of its cluster).
    Verifier(Arc<dyn ServerCertVerifier>),
}

impl ServerTrust {
    /// Only the CA certificates in `path`: a PEM file, or a directory whose files (`.pem`,
    /// `.crt`, `.cer`) are PEM files, as operators keep a private CA.
    pub fn from_ca_path(path: &std::path::Path) -> Result<Self, Error> {
        let files = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| ["pem", "crt", "cer"].contains(&e))
                })
                .collect();
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut roots = Vec::new();
        for file in &files {
            let pem = std::fs::read(file)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", file.display())))?;
            use rustls::pki_types::pem::PemObject as _;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                roots.push(cert.map_err(|e| {
                    Error::Config(format!("invalid CA file {}: {e}", file.display()))
                })?);
            }
        }
        if roots.is_empty() {
            return Err(Error::Config(format!(
                "{} holds no CA certificate",
                path.display()
            )));
        }
        Ok(ServerTrust::Roots(roots))
    }
}

/// The one crypto provider of the project (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Handshake-signature checks with the project's provider, Ed25519 included: what every
/// certificate verifier of ours does, whatever it decides about the certificate itself.
#[derive(Debug, Clone)]
pub struct SignatureCheck(Arc<CryptoProvider>);

impl Default for SignatureCheck {
    fn default() -> Self {
        Self(provider())
    }
}

impl SignatureCheck {
    /// Checks a TLS 1.2 handshake signature.
    pub fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    /// Checks a TLS 1.3 handshake signature.
    pub fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    /// The signature schemes accepted.
    pub fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Builds a client config presenting, with an API key, the key's self-signed certificate.
pub fn client_config(api_key: Option<&ApiKey>, trust: &ServerTrust) -> Result<ClientConfig, Error> {
    let auth = api_key.map(|key| (key.self_signed_certificate(), key.private_key_der()));
    tls_client_config(trust, auth)
}

/// Builds a client config that trusts servers as `trust` says and presents `auth` (a
/// certificate and its key), if any. ALPN is left to the caller.
pub fn tls_client_config(
    trust: &ServerTrust,
    auth: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?;
    let builder = match trust {
        ServerTrust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ServerCertificateRule::new(|_| Ok(())))),
        ServerTrust::System => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            builder.with_root_certificates(roots)
        }
        ServerTrust::Roots(certs) => {
            let mut roots = RootCertStore::empty();
            for c in certs {
                roots
                    .add(c.clone())
                    .map_err(|e| Error::Config(format!("invalid CA certificate: {e}")))?;
            }
            builder.with_root_certificates(roots)
        }
        ServerTrust::Verifier(verifier) => builder
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone()),
    };
    let config = match auth {
        Some((cert, key)) => builder
            .with_client_auth_cert(vec![cert], key)
            .map_err(|e| Error::Config(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// What a [`ServerCertificateRule`] asks of a certificate.
type AcceptRule = dyn Fn(&CertificateDer<'_>) -> Result<(), rustls::Error> + Send + Sync;

/// A server certificate verifier that checks handshake signatures (with [`SignatureCheck`]) and
/// leaves the decision on the certificate itself to a rule: any certificate (`-k`), or one that
/// proves a node of the cluster (peer calls).
pub struct ServerCertificateRule {
    accept: Box<AcceptRule>,
    signatures: SignatureCheck,
}

impl ServerCertificateRule {
    /// A verifier that accepts the certificates `accept` accepts.
    pub fn new(
        accept: impl Fn(&CertificateDer<'_>) -> Result<(), rustls::Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            accept: Box::new(accept),
            signatures: SignatureCheck::default(),
        }
    }
}

impl std::fmt::Debug for ServerCertificateRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerCertificateRule")
    }
}

impl ServerCertVerifier for ServerCertificateRule {
    fn verify_server_cert(
        &self,
        cert: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        (self.accept)(cert).map(|()| ServerCertVerified::assertion())
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
