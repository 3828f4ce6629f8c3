//! Bring your own key: `minkms wrapping-key` and `minkms import-key --wrapped`. Files are made
//! here as an exporter (an HSM, a cloud KMS, Vault) makes them: RSA-OAEP of a fresh AES-256 key
//! under the enclave's public key, then that key's RFC 5649 wrap of the key material.

use std::path::Path;

use aws_lc_rs::rsa::{
    OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use minkms_testkit::{runtime, soft_hsm_key, Node};

/// The DER of the PEM public key `minkms wrapping-key` printed.
fn der_of(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// A wrapped import of `material` for `public_der`, OAEP with SHA-256 unless `sha1`.
fn wrap(public_der: &[u8], material: &[u8], sha1: bool) -> Vec<u8> {
    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).unwrap()).unwrap();
    let aes: [u8; 32] = rand_bytes();
    let alg = if sha1 {
        &OAEP_SHA1_MGF1SHA1
    } else {
        &OAEP_SHA256_MGF1SHA256
    };
    let mut block = vec![0u8; public.ciphertext_size()];
    let block = public
        .encrypt(alg, &aes, &mut block, None)
        .unwrap()
        .to_vec();
    let kwp = aes_kw::KekAes256::from(aes)
        .wrap_with_padding_vec(material)
        .unwrap();
    [block, kwp].concat()
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn wrapped_key_material_imports_as_the_same_key_and_bad_files_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_key = soft_hsm_key();
    let node = Node::start(&tmp.path().join("kms"), &hsm_key);
    node.cli(&["add-enclave", "e"]);
    node.cli(&["add-enclave", "other"]);
    let err = |args: &[&str]| {
        let out = node.cli_as(&node.root_api_key, args);
        assert!(!out.status.success(), "minkms {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // Before anyone asked for the wrapping key, a wrapped import says how to get one.
    let material: [u8; 32] = rand_bytes();
    let stray = write(tmp.path(), "stray", &[0u8; 600]);
    let text = err(&["import-key", "-e", "e", "k0", "--wrapped", &stray]);
    assert!(text.contains("no wrapping key yet"), "{text}");

    // Made on first use, the same afterwards; --json gives the PEM and its fingerprint.
    let pem = node.cli(&["wrapping-key", "-e", "e"]);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    assert_eq!(node.cli(&["wrapping-key", "-e", "e"]), pem);
    let der = der_of(&pem);
    let json: serde_json::Value =
        serde_json::from_str(&node.cli(&["wrapping-key", "-e", "e", "--json"])).unwrap();
    assert_eq!(json["public_key"].as_str().unwrap(), pem);
    assert_eq!(
        json["sha256"].as_str().unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&der))
    );
    let public = PublicEncryptingKey::from_der(&der).unwrap();
    assert_eq!(public.key_size_bits(), 4096);
    let other_pem = node.cli(&["wrapping-key", "-e", "other"]);
    assert_ne!(other_pem, pem, "each enclave has its own wrapping key");

    // The same material imported wrapped (raw file, SHA-256; base64 file, SHA-1) and in plain
    // is the same key: the same MAC.
    let raw = write(tmp.path(), "raw", &wrap(&der, &material, false));
    node.cli(&["import-key", "-e", "e", "wrapped", "--wrapped", &raw]);
    let b64 = write(
        tmp.path(),
        "b64",
        STANDARD.encode(wrap(&der, &material, true)).as_bytes(),
    );
    node.cli(&[
        "import-key",
        "-e",
        "e",
        "wrapped-sha1",
        "--wrapped",
        &b64,
        "--hash",
        "sha1",
    ]);
    node.cli(&["import-key", "-e", "e", "plain", &STANDARD.encode(material)]);
    let root = node.root();
    let macs = runtime().block_on(async {
        let mut macs = Vec::new();
        for name in ["wrapped", "wrapped-sha1", "plain"] {
            macs.push(root.mac("e", name, 0, b"message").await.unwrap().mac);
        }
        macs
    });
    assert_eq!(macs[0], macs[2]);
    assert_eq!(macs[1], macs[2]);

    // Bad files: each a clear error, and no key made.
    let good = wrap(&der, &rand_bytes::<32>(), false);
    let mut tampered_rsa = good.clone();
    tampered_rsa[100] ^= 1;
    let mut tampered_kwp = good.clone();
    tampered_kwp[520] ^= 1;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "for-another-enclave",
            wrap(&der_of(&other_pem), &rand_bytes::<32>(), false),
            "does not open under this enclave's wrapping key",
        ),
        (
            "tampered-rsa",
            tampered_rsa,
            "does not open under this enclave's wrapping key",
        ),
        ("tampered-kwp", tampered_kwp, "does not unwrap"),
        ("truncated", good[..530].to_vec(), "does not unwrap"),
        ("truncated-rsa", good[..300].to_vec(), "300 bytes"),
        (
            "short-material",
            wrap(&der, &[1u8; 16], false),
            "is 16 bytes, must be 32 bytes",
        ),
        (
            "long-material",
            wrap(&der, &[1u8; 64], false),
            "is 64 bytes, must be 32 bytes",
        ),
    ];
    for (name, bytes, expected) in &cases {
        let file = write(tmp.path(), name, bytes);
        let text = err(&["import-key", "-e", "e", name, "--wrapped", &file]);
        assert!(text.contains(expected), "{name}: {text}");
    }
    // SHA-256 material given as SHA-1 does not open either.
    let text = err(&[
        "import-key",
        "-e",
        "e",
        "wrong-hash",
        "--wrapped",
        &raw,
        "--hash",
        "sha1",
    ]);
    assert!(text.contains("does not open"), "{text}");
    let text = err(&[
        "import-key",
        "-e",
        "e",
        "bad-hash",
        "--wrapped",
        &raw,
        "--hash",
        "md5",
    ]);
    assert!(text.contains("must be SHA256 or SHA1"), "{text}");
    // An existing name is refused as for plain imports.
    let text = err(&["import-key", "-e", "e", "plain", "--wrapped", &raw]);
    assert!(text.contains("key already exists"), "{text}");
    let keys = node.cli(&["ls-key", "-e", "e", "--json"]);
    for (name, _, _) in &cases {
        assert!(
            !keys.contains(&format!("\"{name}\"")),
            "{name} was made: {keys}"
        );
    }
    assert!(
        !keys.contains("wrong-hash") && !keys.contains("bad-hash"),
        "{keys}"
    );

    // The wrapping key is a record like any other: it survives a restart.
    let dir = tmp.path().join("kms");
    assert_eq!(node.terminate(), Some(0));
    let node = Node::start(&dir, &hsm_key);
    assert_eq!(node.cli(&["wrapping-key", "-e", "e"]), pem);
    // Deleting the enclave deletes its wrapping key: a new enclave of the same name gets a
    // new one.
    node.cli(&["rm-enclave", "e"]);
    node.cli(&["add-enclave", "e"]);
    assert_ne!(node.cli(&["wrapping-key", "-e", "e"]), pem);
}

/// A User's policy decides: fetching the wrapping key needs `KEY:WRAPPINGKEY` (on anything),
/// a wrapped import `KEY:IMPORTWRAPPED` on the key's name; a stranger cannot make the enclave
/// generate one.
#[test]
fn wrapping_key_commands_follow_policies() {
    use minkms_client::wire::{CreateIdentityRequest, CreatePolicyRequest, Rule, RuleSet};
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let root = node.root();
    let rules = |pats: &[&str]| RuleSet {
        rules: pats.iter().map(|p| (p.to_string(), Rule {})).collect(),
    };
    let status = |e: minkms_client::Error| match e {
        minkms_client::Error::Api { status, .. } => status,
        e => panic!("{e}"),
    };
    runtime().block_on(async {
        root.create_enclave("e").await.unwrap();
        let mut users = Vec::new();
        for (name, allow) in [
            (
                "importer",
                vec![
                    ("KEY:WRAPPINGKEY".to_string(), rules(&["*"])),
                    ("KEY:IMPORTWRAPPED".to_string(), rules(&["byok-*"])),
                ],
            ),
            ("reader", vec![("KEY:STATUS".to_string(), rules(&["*"]))]),
        ] {
            root.create_policy(
                "e",
                &CreatePolicyRequest {
                    name: name.into(),
                    allow: allow.into_iter().collect(),
                    deny: Default::default(),
                },
            )
            .await
            .unwrap();
            let key = minkms_client::ApiKey::generate();
            root.create_identity(
                "e",
                &CreateIdentityRequest {
                    identity: key.identity().to_string(),
                    privilege: "User".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            root.assign_policy("e", name, key.identity().as_str())
                .await
                .unwrap();
            users.push(node.client(Some(&key.to_secret_string())));
        }
        let (importer, reader) = (&users[0], &users[1]);
        let stranger = node.client(Some(&minkms_client::ApiKey::generate().to_secret_string()));
        assert_eq!(status(stranger.wrapping_key("e").await.unwrap_err()), 403);
        assert_eq!(status(reader.wrapping_key("e").await.unwrap_err()), 403);
        let public = importer.wrapping_key("e").await.unwrap().public_key;
        assert_eq!(root.wrapping_key("e").await.unwrap().public_key, public);
        let wrapped = wrap(&public, &rand_bytes::<32>(), false);
        importer
            .import_wrapped_key("e", "byok-1", "", &wrapped, "")
            .await
            .unwrap();
        assert_eq!(
            status(
                importer
                    .import_wrapped_key("e", "other-1", "", &wrapped, "")
                    .await
                    .unwrap_err()
            ),
            403
        );
        assert_eq!(
            status(
                reader
                    .import_wrapped_key("e", "byok-2", "", &wrapped, "")
                    .await
                    .unwrap_err()
            ),
            403
        );
        assert_eq!(
            reader.key_status("e", "byok-1", 0).await.unwrap().name,
            "byok-1"
        );
    });
}

/// The recipe of docs/byok.md with the `openssl` command line: RSA-OAEP-SHA-256 with
/// `pkeyutl`, RFC 5649 with `enc -id-aes256-wrap-pad`.
#[test]
fn the_openssl_recipe_imports_the_same_key() {
    let has_openssl = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_openssl {
        minkms_testkit::not_run(
            "the openssl wrapped-import recipe (server/tests/wrapped_import.rs)",
            "the openssl command is not installed",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    node.cli(&["add-enclave", "e"]);
    let dir = tmp.path();
    std::fs::write(
        dir.join("wrapping.pem"),
        node.cli(&["wrapping-key", "-e", "e"]),
    )
    .unwrap();
    let material: [u8; 32] = rand_bytes();
    std::fs::write(dir.join("key.bin"), material).unwrap();
    let script = r#"set -e
openssl rand 32 > aes.key
openssl pkeyutl -encrypt -pubin -inkey wrapping.pem \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
  -in aes.key -out rsa.bin
openssl enc -id-aes256-wrap-pad -K "$(od -An -tx1 -v aes.key | tr -d ' \n')" -iv A65959A6 \
  -in key.bin -out kwp.bin
cat rsa.bin kwp.bin > wrapped.bin
rm -f aes.key
"#;
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    node.cli(&[
        "import-key",
        "-e",
        "e",
        "from-openssl",
        "--wrapped",
        dir.join("wrapped.bin").to_str().unwrap(),
    ]);
    node.cli(&["import-key", "-e", "e", "plain", &STANDARD.encode(material)]);
    let root = node.root();
    runtime().block_on(async {
        let a = root.mac("e", "from-openssl", 0, b"m").await.unwrap().mac;
        let b = root.mac("e", "plain", 0, b"m").await.unwrap().mac;
        assert_eq!(a, b);
    });
}

/// On a cluster the wrapping key is one for the enclave whichever node is asked first (a
/// follower passes the write on), and a wrapped import through any node imports everywhere.
#[test]
fn a_cluster_has_one_wrapping_key_per_enclave_whichever_node_makes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, nodes) = minkms_testkit::cluster(tmp.path(), 3, &soft_hsm_key());
    let root = nodes[0].root_api_key.clone();
    nodes[0].cli(&["add-enclave", "e"]);
    // Asked of every node at once: one key results, and every node answers it.
    let asks: Vec<std::process::Child> = nodes
        .iter()
        .map(|n| {
            std::process::Command::new(minkms_testkit::bin())
                .args(["wrapping-key", "-e", "e", "-k"])
                .env("MINIO_KMS_SERVER", &n.endpoint)
                .env("MINIO_KMS_API_KEY", &root)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let first: Vec<String> = asks
        .into_iter()
        .map(|a| {
            let out = a.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
        .collect();
    assert!(first.iter().all(|p| p == &first[0]), "{first:?}");
    for n in &nodes {
        assert_eq!(n.cli(&["wrapping-key", "-e", "e"]), first[0]);
    }
    let material: [u8; 32] = rand_bytes();
    let file = write(
        tmp.path(),
        "wrapped",
        &wrap(&der_of(&first[0]), &material, false),
    );
    nodes[2].cli(&["import-key", "-e", "e", "byok", "--wrapped", &file]);
    nodes[1].cli(&["import-key", "-e", "e", "plain", &STANDARD.encode(material)]);
    runtime().block_on(async {
        for n in &nodes {
            let root = n.root();
            let a = root.mac("e", "byok", 0, b"m").await.unwrap().mac;
            let b = root.mac("e", "plain", 0, b"m").await.unwrap().mac;
            assert_eq!(a, b);
        }
    });
}
