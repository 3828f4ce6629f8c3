//! No plaintext key material or API key in kms.db or in the logs.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use minkms_client::wire::CreateIdentityRequest;
use minkms_client::ApiKey;
use minkms_testkit::{field, runtime, soft_hsm_key, Node};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn kms_db_and_logs_hold_no_key_material_and_no_api_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kms0");
    let hsm_key = soft_hsm_key();
    let node = Node::start(&dir, &hsm_key);
    let imported = [0x3c_u8; 32];
    let user = ApiKey::generate();
    let dek = runtime().block_on(async {
        let root = node.root();
        root.create_enclave("e").await.unwrap();
        root.import_key("e", "imported", "", &imported)
            .await
            .unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
        root.create_identity(
            "e",
            &CreateIdentityRequest {
                identity: user.identity().to_string(),
                privilege: "User".into(),
                is_service_account: false,
                tags: Default::default(),
            },
        )
        .await
        .unwrap();
        let gen = root.generate_key("e", "k", b"", 32).await.unwrap();
        gen.plaintext
    });
    let admin = node.cli(&["add-identity", "-e", "e", "--admin"]);
    let admin_key = field(&admin, "API Key");
    // Requests with bad input make the server log errors too.
    let _ = node.cli_as(&admin_key, &["decrypt", "-e", "e", "k", "AAAA"]);
    let _ = node.cli_as(
        "k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw",
        &["ls-key", "-e", "e"],
    );
    let logs = node.logs();
    let root_api_key = node.root_api_key.clone();
    node.kill();

    let db = std::fs::read(dir.join("kms.db")).unwrap();
    let hsm_raw = STANDARD
        .decode(hsm_key.strip_prefix("hsm:aes256:").unwrap())
        .unwrap();
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("HSM key (text)", hsm_key.clone().into_bytes()),
        ("HSM key (raw)", hsm_raw),
        ("root API key", root_api_key.clone().into_bytes()),
        (
            "root API key seed",
            URL_SAFE_NO_PAD.decode(&root_api_key[3..]).unwrap(),
        ),
        ("admin API key", admin_key.clone().into_bytes()),
        (
            "admin API key seed",
            URL_SAFE_NO_PAD.decode(&admin_key[3..]).unwrap(),
        ),
        ("user API key", user.to_secret_string().as_bytes().to_vec()),
        ("imported key material", imported.to_vec()),
        ("data key", dek.clone()),
        ("data key (base64)", STANDARD.encode(&dek).into_bytes()),
    ];
    assert!(
        !logs.is_empty(),
        "the node logged nothing: the test would prove nothing"
    );
    for (what, secret) in &secrets {
        assert!(!contains(&db, secret), "{what} found in kms.db");
        assert!(
            !contains(logs.as_bytes(), secret),
            "{what} found in the logs"
        );
    }
}

/// A PIN written inline in the config file stops the node with an error that says what to
/// write instead, and the PIN appears nowhere in what the node prints.
#[test]
fn an_inline_secret_in_the_config_is_refused_without_being_repeated() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.yaml");
    let pin = "Sup3rSecretPin-4242";
    std::fs::write(
        &config,
        format!("version: v1\nhsm:\n  pkcs11:\n    - module: /usr/lib/softhsm/libsofthsm2.so\n      token: t\n      pin: {pin}\n      key: k\n"),
    )
    .unwrap();
    let out = std::process::Command::new(minkms_testkit::bin())
        .args(["server", "--addr", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg(tmp.path().join("kms"))
        .env("MINIO_KMS_HSM_KEY", soft_hsm_key())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let printed = [out.stdout, out.stderr].concat();
    let printed = String::from_utf8_lossy(&printed);
    assert!(!printed.contains(pin), "{printed}");
    assert!(printed.contains("env: VARIABLE"), "{printed}");
}
