//! A node serving the certificate configured in `tls.certs` (issued by an operator's own CA),
//! and clients that verify it: trusted by that CA it works (API key over mTLS included);
//! another CA, or a certificate for other names, is refused by the client.

use std::path::Path;
use std::time::Duration;

use minkms_client::{ApiKey, Client, ServerTrust};
use minkms_testkit::{runtime, soft_hsm_key, Node};
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::CertificateDer;

/// A CA: its certificate and key.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Self {
            cert: params.self_signed(&key).unwrap(),
            key,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), written to `dir` as
    /// `public.crt` and `private.key`.
    fn issue(&self, names: &[&str], dir: &Path) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("public.crt"), cert.pem()).unwrap();
        std::fs::write(dir.join("private.key"), key.serialize_pem()).unwrap();
    }

    fn trust(&self) -> ServerTrust {
        ServerTrust::Roots(vec![CertificateDer::from(self.cert.der().to_vec())])
    }
}

/// A node whose `tls.certs` is a certificate of `ca` for `names`.
fn node_with_certificate(dir: &Path, ca: &Ca, names: &[&str]) -> Node {
    let certs = dir.join("certs");
    ca.issue(names, &certs);
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: v1\ntls:\n  certs:\n    - key: {0}/private.key\n      cert: {0}/public.crt\n",
            certs.display()
        ),
    )
    .unwrap();
    Node::launch(
        &dir.join("kms"),
        &["--config", config.to_str().unwrap()],
        &[("MINIO_KMS_HSM_KEY", &soft_hsm_key())],
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("node did not start: {e:?}"))
}

fn client(node: &Node, trust: ServerTrust, api_key: Option<&str>) -> Client {
    let mut b = Client::builder()
        .endpoints([node.endpoint.as_str()])
        .trust(trust);
    if let Some(k) = api_key {
        b = b.api_key(ApiKey::parse(k).unwrap());
    }
    b.build().unwrap()
}

#[test]
fn a_configured_certificate_is_served_and_verified_by_its_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new("operator CA");
    let node = node_with_certificate(tmp.path(), &ca, &["127.0.0.1", "kms.test"]);
    let rt = runtime();

    // Trusted by the operator's CA: the node answers, and the root API key works over mTLS.
    let root = client(&node, ca.trust(), Some(&node.root_api_key));
    rt.block_on(async {
        root.version(None).await.unwrap();
        root.create_enclave("e").await.unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
        let sealed = root.encrypt("e", "k", b"verified", b"").await.unwrap();
        let opened = root
            .decrypt("e", "k", 0, &sealed.ciphertext, b"")
            .await
            .unwrap();
        assert_eq!(opened.plaintext, b"verified");
    });

    // The certificate served is the configured one, not a self-signed one.
    assert!(!node.stdout().contains("self-signed"), "{}", node.stdout());

    // Another CA, or no private CA at all (the system's roots), is refused by the client.
    for (what, trust) in [
        ("another CA", Ca::new("someone else").trust()),
        ("the system roots", ServerTrust::System),
    ] {
        let err = rt
            .block_on(client(&node, trust, None).version(None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("UnknownIssuer"), "{what}: {err}");
    }
}

#[test]
fn a_certificate_for_other_names_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new("operator CA");
    // Valid, from the trusted CA, but not for the address the client dials.
    let node = node_with_certificate(tmp.path(), &ca, &["kms.test"]);
    let err = runtime()
        .block_on(client(&node, ca.trust(), None).version(None))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("certificate not valid for name \"127.0.0.1\""),
        "{err}"
    );
}
