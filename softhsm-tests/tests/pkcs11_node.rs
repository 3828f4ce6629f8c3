//! Nodes sealed by a real SoftHSM2 token, as real processes: restart, migration from the soft
//! HSM, and every failure SEALING.md lists.

use std::time::{Duration, Instant};

use minkms_client::wire::CreateIdentityRequest;
use minkms_client::ApiKey;
use minkms_softhsm_tests::{softhsm2, write_config};
use minkms_testkit::{runtime, soft_hsm_key, Node};
use redb::ReadableTable as _;

fn env_of<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn a_pkcs11_sealed_node_restarts_and_serves_its_keys() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("restart");
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "config.yaml", &hsm.yaml("restart", true));
    let args = ["--config", config.to_str().unwrap()];
    let env = hsm.env();
    let node = Node::launch(
        &tmp.path().join("kms"),
        &args,
        &env_of(&env),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        node.stdout()
            .contains("HSM            pkcs11:restart/minkms-seal"),
        "{}",
        node.stdout()
    );
    let rt = runtime();
    let gen = rt.block_on(async {
        let root = node.root();
        root.create_enclave("e").await.unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
        root.generate_key("e", "k", b"ctx", 32).await.unwrap()
    });
    let root_key = node.root_api_key.clone();
    node.kill();

    let node = Node::launch(
        &tmp.path().join("kms"),
        &args,
        &env_of(&env),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(
        node.root_api_key, root_key,
        "the root API key comes from the token's HMAC key"
    );
    rt.block_on(async {
        let root = node.root();
        assert_eq!(
            root.decrypt("e", "k", 0, &gen.ciphertext, b"ctx")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
        let status = root.cluster_status().await.unwrap();
        assert_eq!(status.nodes_up[&0].hsm, ["pkcs11:restart/minkms-seal"]);
    });
}

#[test]
fn migrating_soft_to_soft_and_pkcs11_to_pkcs11_only_keeps_every_key() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("migrate");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kms");
    let soft = soft_hsm_key();
    let rt = runtime();
    let admin = ApiKey::generate();

    // 1. Soft HSM only.
    let node = Node::start(&dir, &soft);
    let gen = rt.block_on(async {
        let root = node.root();
        root.create_enclave("e").await.unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
        let req = CreateIdentityRequest {
            identity: admin.identity().to_string(),
            privilege: "Admin".into(),
            ..Default::default()
        };
        root.create_identity("e", &req).await.unwrap();
        root.generate_key("e", "k", b"", 32).await.unwrap()
    });
    let soft_root = node.root_api_key.clone();
    node.kill();

    // 2. Soft + PKCS#11: unsealed by the soft HSM, the root key is rewrapped for the token.
    let config = write_config(tmp.path(), "both.yaml", &hsm.yaml("migrate", true));
    let mut env = hsm.env();
    env.push(("MINIO_KMS_HSM_KEY", soft.clone()));
    let node = Node::launch(
        &dir,
        &["--config", config.to_str().unwrap()],
        &env_of(&env),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(
        node.root_api_key, soft_root,
        "the soft HSM comes first and still communicates"
    );
    rt.block_on(async {
        let status = node.root().cluster_status().await.unwrap();
        let mut sealed_by = status.nodes_up[&0].hsm.clone();
        sealed_by.sort();
        assert_eq!(sealed_by, ["hsm:minio:soft", "pkcs11:migrate/minkms-seal"]);
        assert_eq!(
            node.root()
                .decrypt("e", "k", 0, &gen.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
    });
    node.kill();

    // 3. PKCS#11 only: the soft key is gone from the environment; the token unseals.
    let config = write_config(tmp.path(), "pkcs11.yaml", &hsm.yaml("migrate", false));
    let node = Node::launch(
        &dir,
        &["--config", config.to_str().unwrap()],
        &env_of(&hsm.env()),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_ne!(
        node.root_api_key, soft_root,
        "the token now derives the root API key"
    );
    rt.block_on(async {
        // Identities of enclaves do not depend on the HSM: the admin's key still works.
        let as_admin = node.client(Some(&admin.to_secret_string()));
        assert_eq!(
            as_admin
                .decrypt("e", "k", 0, &gen.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
        assert_eq!(
            node.root().key_status("e", "k", 0).await.unwrap().version,
            1
        );
        let status = node.root().cluster_status().await.unwrap();
        assert_eq!(
            status.nodes_up[&0].hsm_active,
            ["pkcs11:migrate/minkms-seal"]
        );
    });
}

/// Starts a node expected to fail; returns its stderr after checking it exited with 1.
fn fails(dir: &std::path::Path, config_body: &str, env: &[(&str, &str)]) -> String {
    let config = write_config(
        dir.parent().unwrap(),
        &format!("{}.yaml", dir.file_name().unwrap().to_str().unwrap()),
        config_body,
    );
    let started = Instant::now();
    let err = Node::launch(
        dir,
        &["--config", config.to_str().unwrap()],
        env,
        Duration::from_secs(20),
    )
    .expect_err("the node must not start");
    assert_eq!(err.code, Some(1), "{}", err.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a fatal error must not be retried"
    );
    assert!(
        !err.stderr.contains("cannot unseal yet"),
        "a fatal error must not be retried:\n{}",
        err.stderr
    );
    assert!(!dir.join("kms.db").exists() || config_body.contains("keep-db"));
    err.stderr
}

#[test]
fn wrong_module_path_unknown_token_wrong_pin_and_missing_key_are_fatal_and_clear() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("failures");
    let tmp = tempfile::tempdir().unwrap();
    let env = hsm.env();
    let env = env_of(&env);

    let body = hsm
        .yaml("failures", true)
        .replace(hsm.module.to_str().unwrap(), "/nonexistent/libpkcs11.so");
    let stderr = fails(&tmp.path().join("module"), &body, &env);
    assert!(
        stderr.contains("failed to load PKCS#11 module /nonexistent/libpkcs11.so"),
        "{stderr}"
    );

    let stderr = fails(
        &tmp.path().join("token"),
        &hsm.yaml("no-such-token", true),
        &env,
    );
    assert!(
        stderr.contains("no token labelled 'no-such-token'"),
        "{stderr}"
    );

    let mut wrong_pin = env.clone();
    wrong_pin.retain(|(k, _)| *k != minkms_softhsm_tests::PIN_ENV);
    wrong_pin.push((minkms_softhsm_tests::PIN_ENV, "9999"));
    let stderr = fails(
        &tmp.path().join("pin"),
        &hsm.yaml("failures", true),
        &wrong_pin,
    );
    assert!(
        stderr.contains("refused the PIN") && !stderr.contains("9999"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("refused the PIN").count(),
        1,
        "tried exactly once:\n{stderr}"
    );

    let stderr = fails(&tmp.path().join("key"), &hsm.yaml("failures", false), &env);
    assert!(
        stderr.contains("no AES key labelled 'minkms-seal' on token 'failures'"),
        "{stderr}"
    );

    // A communication HSM that cannot derive (no HMAC key) fails before anything is written.
    let no_hmac = hsm
        .yaml("failures", true)
        .replace("      hmac_key: minkms-hmac\n", "");
    let stderr = fails(&tmp.path().join("nohmac"), &no_hmac, &env);
    assert!(stderr.contains("no hmac_key configured"), "{stderr}");

    let mut no_pin = env.clone();
    no_pin.retain(|(k, _)| *k != minkms_softhsm_tests::PIN_ENV);
    let stderr = fails(
        &tmp.path().join("nopin"),
        &hsm.yaml("failures", true),
        &no_pin,
    );
    assert!(
        stderr.contains("MINKMS_TEST_PKCS11_PIN is not set"),
        "{stderr}"
    );
}

#[test]
fn a_tampered_sealed_blob_is_refused() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("tamper");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kms");
    let config = write_config(tmp.path(), "config.yaml", &hsm.yaml("tamper", true));
    let args = ["--config", config.to_str().unwrap()];
    let env = hsm.env();
    Node::launch(&dir, &args, &env_of(&env), Duration::from_secs(30))
        .unwrap()
        .kill();

    // Flip one bit of the sealed root key inside kms.db.
    {
        let db = redb::Database::create(dir.join("kms.db")).unwrap();
        let table: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
        let key = "rek/pkcs11:tamper/minkms-seal";
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(table).unwrap();
            let mut blob = meta
                .get(key)
                .unwrap()
                .expect("the sealed root key")
                .value()
                .to_vec();
            let last = blob.len() - 1;
            blob[last] ^= 1;
            meta.insert(key, blob.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Node::launch(&dir, &args, &env_of(&env), Duration::from_secs(20))
        .expect_err("must not start");
    assert_eq!(err.code, Some(1));
    assert!(
        err.stderr
            .contains("failed to unseal root encryption key with HSM: invalid ciphertext"),
        "{}",
        err.stderr
    );
}

#[test]
fn hsms_are_listed_added_and_removed_through_the_cli() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("cli");
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "config.yaml", &hsm.yaml("cli", true));
    let soft = soft_hsm_key();
    let mut env = hsm.env();
    env.push(("MINIO_KMS_HSM_KEY", soft));
    let node = Node::launch(
        &tmp.path().join("kms"),
        &["--config", config.to_str().unwrap()],
        &env_of(&env),
        Duration::from_secs(30),
    )
    .unwrap();
    let p11 = "pkcs11:cli/minkms-seal";
    let row = |out: &str, id: &str| {
        out.lines()
            .find(|l| l.starts_with(id))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };

    let ls = node.cli(&["ls-hsm"]);
    assert_eq!(row(&ls, p11), format!("{p11} yes yes"), "{ls}");
    assert_eq!(row(&ls, "hsm:minio:soft"), "hsm:minio:soft yes yes", "{ls}");

    node.cli(&["rm-hsm", p11]);
    assert_eq!(row(&node.cli(&["ls-hsm"]), p11), format!("{p11} no yes"));

    let refused = node.cli_as(&node.root_api_key, &["rm-hsm", "hsm:minio:soft"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("communication HSM"));
    let refused = node.cli_as(&node.root_api_key, &["rm-hsm", "pkcs11:nope/x"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("has no sealed root encryption key"));
    let refused = node.cli_as(&node.root_api_key, &["add-hsm", "pkcs11:nope/x"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not configured on this node"));

    node.cli(&["add-hsm", p11]);
    assert_eq!(row(&node.cli(&["ls-hsm"]), p11), format!("{p11} yes yes"));
    let again = node.cli_as(&node.root_api_key, &["add-hsm", p11]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already has a sealed root encryption key")
    );
    node.cli(&["add-hsm", p11, "--overwrite"]);
}

/// A strict token's sealing key may wrap but not encrypt (`CKA_ENCRYPT=false`, `CKA_WRAP=true`):
/// with `mechanism: aes-kwp` a node seals with it, restarts and serves its keys; with the
/// default `aes-gcm` a new node on the same key is refused, saying which mechanism fits.
#[test]
fn a_wrap_only_sealing_key_works_with_aes_kwp_and_is_refused_for_aes_gcm() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("wraponly");
    hsm.add_wrap_only_key("wraponly", "minkms-seal");
    let tmp = tempfile::tempdir().unwrap();
    let body = format!("{}      mechanism: aes-kwp\n", hsm.yaml("wraponly", true));
    let config = write_config(tmp.path(), "config.yaml", &body);
    let args = ["--config", config.to_str().unwrap()];
    let env = hsm.env();
    let start = || {
        Node::launch(
            &tmp.path().join("kms"),
            &args,
            &env_of(&env),
            Duration::from_secs(30),
        )
        .unwrap()
    };
    let node = start();
    let rt = runtime();
    let gen = rt.block_on(async {
        let root = node.root();
        root.create_enclave("e").await.unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
        root.generate_key("e", "k", b"ctx", 32).await.unwrap()
    });
    assert_eq!(node.terminate(), Some(0));
    // The sealed root key says how it was sealed (format 2, mechanism 2).
    let db = redb::Database::open(tmp.path().join("kms/kms.db")).unwrap();
    let read = db.begin_read().unwrap();
    let meta = read
        .open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
        .unwrap();
    let blob = meta
        .get("rek/pkcs11:wraponly/minkms-seal")
        .unwrap()
        .expect("the sealed root key")
        .value()
        .to_vec();
    assert_eq!(&blob[..6], b"MKSB\x02\x02");
    drop((meta, read, db));
    let node = start();
    rt.block_on(async {
        let root = node.root();
        assert_eq!(
            root.decrypt("e", "k", 0, &gen.ciphertext, b"ctx")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
    });
    drop(node);

    let err = fails(
        &tmp.path().join("gcm"),
        &hsm.yaml("wraponly", true),
        &env_of(&env),
    );
    assert!(
        err.contains("may not encrypt") && err.contains("mechanism: aes-kwp"),
        "{err}"
    );
}
