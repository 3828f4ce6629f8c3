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

/// The CLI trusts a private CA with `--ca` (a PEM file or a directory) or `MINIO_KMS_CA`; a
/// certificate it cannot verify gets a hint that says which option to use.
#[test]
fn the_cli_trusts_a_private_ca_given_by_file_or_directory_and_hints_when_it_cannot_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new("operator CA");
    let node = node_with_certificate(tmp.path(), &ca, &["127.0.0.1"]);
    let ca_dir = tmp.path().join("CAs");
    std::fs::create_dir_all(&ca_dir).unwrap();
    let ca_file = ca_dir.join("operator.pem");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    std::fs::write(ca_dir.join("README"), "not a certificate").unwrap();
    let cli = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(minkms_testkit::bin());
        cmd.args(args)
            .env("MINIO_KMS_SERVER", &node.endpoint)
            .env("MINIO_KMS_API_KEY", &node.root_api_key)
            .env_remove("MINIO_KMS_CA")
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let file = ca_file.to_str().unwrap();
    let dir = ca_dir.to_str().unwrap();
    for (args, env) in [
        (vec!["ls", "--ca", file], vec![]),
        (vec!["ls", "--ca", dir], vec![]),
        (vec!["ls"], vec![("MINIO_KMS_CA", dir)]),
    ] {
        let out = cli(&args, &env);
        assert!(
            out.status.success(),
            "{args:?} {env:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Without the CA: the error says what to do.
    let out = cli(&["ls"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(stderr.contains("--ca PATH (or MINIO_KMS_CA)"), "{stderr}");
    assert!(stderr.contains("-k"), "{stderr}");
    // Another CA is no better, and a path without certificates is refused as such.
    let other = tmp.path().join("other.pem");
    std::fs::write(&other, Ca::new("someone else").cert.pem()).unwrap();
    let out = cli(&["ls", "--ca", other.to_str().unwrap()], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca PATH"));
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = cli(&["ls", "--ca", empty.to_str().unwrap()], &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no CA certificate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
