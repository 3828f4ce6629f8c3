//! Seed 002's single-node walkthrough, through the CLI and through the client.

use minkms_testkit::{field, runtime, soft_hsm_key, Node};

#[test]
fn seed_002_single_node_walkthrough_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());

    let ls = node.cli(&["ls"]);
    assert!(ls.contains("up") && ls.contains("Leader"), "{ls}");

    node.cli(&["add-enclave", "enclave-1"]);
    node.cli(&["add-key", "--enclave", "enclave-1", "key-1"]);
    let stat = node.cli(&["stat-key", "--enclave", "enclave-1", "key-1"]);
    assert_eq!(field(&stat, "Name"), "key-1");
    assert_eq!(field(&stat, "Version"), "v1");
    assert_eq!(field(&stat, "Type"), "AES256");

    // A second add-key on the same name adds a version.
    let out = node.cli(&["add-key", "--enclave", "enclave-1", "key-1"]);
    assert!(out.contains("version 2"), "{out}");
    let ls_key = node.cli(&["ls-key", "--enclave", "enclave-1"]);
    assert!(
        ls_key
            .lines()
            .any(|l| l.starts_with("key-1") && l.contains("v2")),
        "{ls_key}"
    );

    // An enclave admin's generated API key works, inside its enclave only.
    let admin = node.cli(&["add-identity", "--enclave", "enclave-1", "--admin"]);
    let admin_key = field(&admin, "API Key");
    assert!(admin_key.starts_with("k1:"));
    let out = node.cli_as(&admin_key, &["add-key", "--enclave", "enclave-1", "key-2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = node.cli_as(&admin_key, &["ls-key", "--enclave", "enclave-1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("key-2"));
    let out = node.cli_as(&admin_key, &["add-enclave", "enclave-2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("access denied: insufficient permissions")
    );

    // encrypt → decrypt and generate → decrypt, as the admin.
    let ct = node.cli_as(
        &admin_key,
        &[
            "encrypt",
            "-e",
            "enclave-1",
            "key-1",
            "hello world",
            "--context",
            "bucket/object",
        ],
    );
    let ct = String::from_utf8(ct.stdout).unwrap().trim().to_string();
    let pt = node.cli_as(
        &admin_key,
        &[
            "decrypt",
            "-e",
            "enclave-1",
            "key-1",
            &ct,
            "--context",
            "bucket/object",
        ],
    );
    assert_eq!(
        String::from_utf8(pt.stdout).unwrap().trim(),
        "aGVsbG8gd29ybGQ="
    );
    let wrong_context = node.cli_as(&admin_key, &["decrypt", "-e", "enclave-1", "key-1", &ct]);
    assert_eq!(wrong_context.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong_context.stderr).contains("invalid ciphertext"));

    let gen = node.cli(&["keygen", "--enclave", "enclave-1", "key-1", "--json"]);
    let gen: serde_json::Value = serde_json::from_str(&gen).unwrap();
    let pt = node.cli(&[
        "decrypt",
        "-e",
        "enclave-1",
        "key-1",
        gen["ciphertext"].as_str().unwrap(),
    ]);
    assert_eq!(pt.trim(), gen["plaintext"].as_str().unwrap());
    assert_eq!(gen["version"], 2);
}

#[test]
fn round_trips_through_the_client() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("tenant").await.unwrap();
        root.create_key("tenant", "sse", "", false).await.unwrap();
        let enc = root
            .encrypt("tenant", "sse", b"plaintext", b"{}")
            .await
            .unwrap();
        assert_eq!(enc.version, 1);
        let dec = root
            .decrypt("tenant", "sse", 0, &enc.ciphertext, b"{}")
            .await
            .unwrap();
        assert_eq!(dec.plaintext, b"plaintext");
        let gen = root
            .generate_key("tenant", "sse", b"{\"bucket\":\"bucket/object\"}", 32)
            .await
            .unwrap();
        assert_eq!(gen.plaintext.len(), 32);
        let dec = root
            .decrypt(
                "tenant",
                "sse",
                0,
                &gen.ciphertext,
                b"{\"bucket\":\"bucket/object\"}",
            )
            .await
            .unwrap();
        assert_eq!(dec.plaintext, gen.plaintext);
        let mac1 = root.mac("tenant", "sse", 0, b"m").await.unwrap();
        let mac2 = root.mac("tenant", "sse", 0, b"m").await.unwrap();
        assert_eq!(mac1.mac, mac2.mac);
        assert_eq!(mac1.mac.len(), 32);
        // ChaCha20 keys work the same way.
        root.create_key("tenant", "cc", "ChaCha20", false)
            .await
            .unwrap();
        assert_eq!(
            root.key_status("tenant", "cc", 0).await.unwrap().r#type,
            "ChaCha20"
        );
        let enc = root.encrypt("tenant", "cc", b"x", b"").await.unwrap();
        assert_eq!(
            root.decrypt("tenant", "cc", 0, &enc.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            b"x"
        );
    });
}

#[test]
fn decrypt_with_version_zero_after_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("e").await.unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
        let old = root.generate_key("e", "k", b"", 32).await.unwrap();
        assert_eq!(old.version, 1);
        root.create_key("e", "k", "", true).await.unwrap();
        let new = root.generate_key("e", "k", b"", 32).await.unwrap();
        assert_eq!(new.version, 2, "new ciphertexts use the new version");
        // MinIO never sends the version: 0 decrypts ciphertexts of every version.
        assert_eq!(
            root.decrypt("e", "k", 0, &old.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            old.plaintext
        );
        assert_eq!(
            root.decrypt("e", "k", 0, &new.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            new.plaintext
        );
        assert_eq!(
            root.decrypt("e", "k", 1, &old.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            old.plaintext
        );
        let versions = root.list_key_versions("e", "k").await.unwrap();
        assert_eq!(
            versions.keys.iter().map(|k| k.version).collect::<Vec<_>>(),
            [1, 2]
        );
    });
}
