//! "HSM on MinIO KMS" (seed 004): nodes whose root key is sealed by a second minkms cluster,
//! started by the test; migration to it; and a node whose HSM is down at boot.

use std::time::Duration;

use bytes::Bytes;
use minkms_client::wire::CreateIdentityRequest;
use minkms_client::ApiKey;
use minkms_softhsm_tests::write_config;
use minkms_testkit::{free_port, runtime, soft_hsm_key, Node};

/// The external "HSM cluster": an enclave, a key, and an admin identity for the KMS that uses
/// it (seed 004's steps 1 and 2). Returns the admin's API key.
fn prepare_hsm_cluster(hsm_node: &Node) -> String {
    let admin = ApiKey::generate();
    runtime().block_on(async {
        let root = hsm_node.root();
        root.create_enclave("aistor-key-manager").await.unwrap();
        root.create_key("aistor-key-manager", "aistor-key-manager-hsm", "", false)
            .await
            .unwrap();
        let req = CreateIdentityRequest {
            identity: admin.identity().to_string(),
            privilege: "Admin".into(),
            ..Default::default()
        };
        root.create_identity("aistor-key-manager", &req)
            .await
            .unwrap();
    });
    admin.to_secret_string().to_string()
}

/// Seed 004's `hsm.minio.minkms` section, pointing at `servers`.
fn remote_yaml(servers: &[&str], api_key: &str) -> String {
    let list: String = servers.iter().map(|s| format!("      - {s}\n")).collect();
    format!(
        "  minio:\n    minkms:\n      server:\n{list}      enclave: aistor-key-manager\n      key: aistor-key-manager-hsm\n      auth:\n        key: {api_key}\n      insecure: true\n"
    )
}

#[test]
fn a_node_sealed_by_a_remote_minkms_restarts_and_fails_over_across_its_servers() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_node = Node::start(&tmp.path().join("hsm-cluster"), &soft_hsm_key());
    let api_key = prepare_hsm_cluster(&hsm_node);
    // The first listed server is down: the client fails over to the second.
    let dead = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        tmp.path(),
        "config.yaml",
        &remote_yaml(&[&dead, &hsm_node.endpoint], &api_key),
    );
    let args = ["--config", config.to_str().unwrap()];
    let dir = tmp.path().join("kms");
    let node = Node::launch(&dir, &args, &[], Duration::from_secs(60)).unwrap();
    assert!(node
        .stdout()
        .contains("HSM            minkms:aistor-key-manager/aistor-key-manager-hsm"));
    let rt = runtime();
    let gen = rt.block_on(async {
        let root = node.root();
        root.create_enclave("e").await.unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
        root.generate_key("e", "k", b"", 32).await.unwrap()
    });
    let root_key = node.root_api_key.clone();
    node.kill();
    // A new version of the remote key must not change this cluster's root API key.
    runtime()
        .block_on(hsm_node.root().create_key(
            "aistor-key-manager",
            "aistor-key-manager-hsm",
            "",
            true,
        ))
        .unwrap();
    let node = Node::launch(&dir, &args, &[], Duration::from_secs(60)).unwrap();
    assert_eq!(
        node.root_api_key, root_key,
        "the root API key comes from version 1 of the remote key's MAC"
    );
    rt.block_on(async {
        assert_eq!(
            node.root()
                .decrypt("e", "k", 0, &gen.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
    });
}

#[test]
fn migrating_soft_to_soft_and_remote_to_remote_only_keeps_every_key() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_node = Node::start(&tmp.path().join("hsm-cluster"), &soft_hsm_key());
    let api_key = prepare_hsm_cluster(&hsm_node);
    let dir = tmp.path().join("kms");
    let soft = soft_hsm_key();
    let rt = runtime();
    let admin = ApiKey::generate();

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
    node.kill();

    let config = write_config(
        tmp.path(),
        "config.yaml",
        &remote_yaml(&[&hsm_node.endpoint], &api_key),
    );
    let args = ["--config", config.to_str().unwrap()];
    let node = Node::launch(
        &dir,
        &args,
        &[("MINIO_KMS_HSM_KEY", &soft)],
        Duration::from_secs(60),
    )
    .unwrap();
    rt.block_on(async {
        let mut sealed_by = node.root().cluster_status().await.unwrap().nodes_up[&0]
            .hsm
            .clone();
        sealed_by.sort();
        assert_eq!(
            sealed_by,
            [
                "hsm:minio:soft",
                "minkms:aistor-key-manager/aistor-key-manager-hsm"
            ]
        );
    });
    node.kill();

    // Seed 004 step 4: the local HSM key removed; only the remote cluster can unseal now.
    let node = Node::launch(&dir, &args, &[], Duration::from_secs(60)).unwrap();
    // The root API key followed the communication HSM, and the banner says so (once).
    let banner = node.stdout();
    assert!(
        banner.contains("changed since the last start")
            && banner.contains("clients with the old root API key are refused"),
        "{banner}"
    );
    node.kill();
    let node = Node::launch(&dir, &args, &[], Duration::from_secs(60)).unwrap();
    assert!(!node.stdout().contains("changed since the last start"));
    rt.block_on(async {
        let as_admin = node.client(Some(&admin.to_secret_string()));
        assert_eq!(
            as_admin
                .decrypt("e", "k", 0, &gen.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
    });
}

#[test]
fn a_node_whose_remote_hsm_is_down_at_boot_stays_up_sealed_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_key = soft_hsm_key();
    let hsm_addr = format!("127.0.0.1:{}", free_port());
    let hsm_dir = tmp.path().join("hsm-cluster");
    let hsm_node = Node::launch(
        &hsm_dir,
        &["--addr", &hsm_addr],
        &[("MINIO_KMS_HSM_KEY", &hsm_key)],
        Duration::from_secs(30),
    )
    .unwrap();
    let api_key = prepare_hsm_cluster(&hsm_node);
    let config = write_config(
        tmp.path(),
        "config.yaml",
        &remote_yaml(&[&hsm_addr], &api_key),
    );
    let dir = tmp.path().join("kms");
    let node = Node::launch(
        &dir,
        &["--config", config.to_str().unwrap()],
        &[],
        Duration::from_secs(60),
    )
    .unwrap();
    let gen = runtime().block_on(async {
        node.root().create_enclave("e").await.unwrap();
        node.root().create_key("e", "k", "", false).await.unwrap();
        node.root().generate_key("e", "k", b"", 32).await.unwrap()
    });
    node.kill();
    hsm_node.kill();

    // The HSM cluster is down: the node starts, stays up, and reports itself sealed.
    let addr = format!("127.0.0.1:{}", free_port());
    let mut node = Node::spawn(
        &dir,
        &["--addr", &addr, "--config", config.to_str().unwrap()],
        &[],
    );
    let anonymous = node.client(None);
    let rt = runtime();
    let ready = || {
        rt.block_on(async {
            let host = anonymous.endpoints()[0].clone();
            anonymous
                .send_to(&host, http::Method::GET, "/v1/health/ready", Bytes::new())
                .await
        })
    };
    // Poll until the first unseal attempt has failed and says why.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let message = loop {
        let answer = ready();
        if let Ok(r) = &answer {
            assert_eq!(r.status, 503, "a sealed node is not ready");
            let message = String::from_utf8_lossy(&r.body).to_string();
            if message.contains("an HSM is unreachable") {
                break message;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sealed answer naming the cause: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(message.contains("node is sealed"), "{message}");
    // The KES API says the same, in JSON whatever the request accepts (this client asks for
    // protobuf).
    for path in ["/v1/ready", "/v1/key/list", "/v1/status"] {
        let r = rt.block_on(async {
            let host = anonymous.endpoints()[0].clone();
            anonymous
                .send_to(&host, http::Method::GET, path, Bytes::new())
                .await
                .unwrap()
        });
        assert_eq!(r.status, 503, "{path}");
        assert_eq!(r.headers["content-type"], "application/json", "{path}");
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            body.starts_with(r#"{"message":"node is sealed: "#),
            "{path}: {body}"
        );
    }
    let live = rt.block_on(async {
        let host = anonymous.endpoints()[0].clone();
        anonymous
            .send_to(&host, http::Method::GET, "/v1/health/live", Bytes::new())
            .await
            .unwrap()
    });
    assert_eq!(live.status, 200);
    assert!(
        node.logs().contains("cannot unseal yet"),
        "each attempt is logged"
    );
    // `stat` shows it sealed, with why, and fails as a check.
    let stat = node.cli_as(&ApiKey::generate().to_secret_string(), &["stat"]);
    assert_eq!(stat.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&stat.stdout);
    assert!(shown.contains("State       sealed"), "{shown}");
    assert!(shown.contains("an HSM is unreachable"), "{shown}");

    // The HSM cluster comes back (same address): the node unseals by itself and serves.
    let _hsm_node = Node::launch(
        &hsm_dir,
        &["--addr", &hsm_addr],
        &[("MINIO_KMS_HSM_KEY", &hsm_key)],
        Duration::from_secs(30),
    )
    .unwrap();
    node.wait_up(Duration::from_secs(60))
        .expect("the node unseals once its HSM is back");
    assert_eq!(ready().unwrap().status, 200);
    rt.block_on(async {
        assert_eq!(
            node.root()
                .decrypt("e", "k", 0, &gen.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
    });
}

#[test]
fn an_unreachable_secondary_hsm_does_not_keep_the_node_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_node = Node::start(&tmp.path().join("hsm-cluster"), &soft_hsm_key());
    let api_key = prepare_hsm_cluster(&hsm_node);
    let config = write_config(
        tmp.path(),
        "config.yaml",
        &remote_yaml(&[&hsm_node.endpoint], &api_key),
    );
    let args = ["--config", config.to_str().unwrap()];
    let soft = soft_hsm_key();
    let dir = tmp.path().join("kms");
    // Sealed by both the soft HSM and the remote cluster.
    Node::launch(
        &dir,
        &args,
        &[("MINIO_KMS_HSM_KEY", &soft)],
        Duration::from_secs(60),
    )
    .unwrap()
    .kill();
    hsm_node.kill();
    // The remote cluster is down; the soft HSM (first, communicating) unseals alone.
    let node = Node::launch(
        &dir,
        &args,
        &[("MINIO_KMS_HSM_KEY", &soft)],
        Duration::from_secs(60),
    )
    .expect("unsealed by the soft HSM");
    runtime().block_on(async { node.root().create_enclave("still-writable").await.unwrap() });
}

#[test]
fn a_sealed_node_is_not_mistaken_for_a_node_of_another_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let a = Node::start(&tmp.path().join("a"), &key);
    // B's only HSM is a remote cluster that is down: B stays sealed.
    let dead = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        tmp.path(),
        "config.yaml",
        &remote_yaml(&[&dead], &ApiKey::generate().to_secret_string()),
    );
    let b_addr = format!("127.0.0.1:{}", free_port());
    let _b = Node::spawn(
        &tmp.path().join("b"),
        &["--addr", &b_addr, "--config", config.to_str().unwrap()],
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = a.cli_as(&a.root_api_key, &["add", &b_addr]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot add node {b_addr}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("different HSM"),
        "a sealed node is not a foreign one: {stderr}"
    );
}

#[test]
fn a_remote_server_answering_503_is_skipped_and_the_api_key_may_come_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_node = Node::start(&tmp.path().join("hsm-cluster"), &soft_hsm_key());
    let api_key = prepare_hsm_cluster(&hsm_node);
    // A sealed minkms (its own HSM is a dead remote): it answers every KMS request with 503.
    let sealed_addr = format!("127.0.0.1:{}", free_port());
    let dead = format!("127.0.0.1:{}", free_port());
    let sealed_config = write_config(tmp.path(), "sealed.yaml", &remote_yaml(&[&dead], &api_key));
    let _sealed = Node::spawn(
        &tmp.path().join("sealed"),
        &[
            "--addr",
            &sealed_addr,
            "--config",
            sealed_config.to_str().unwrap(),
        ],
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    // The node under test lists the sealed server first, and reads the API key from its env.
    let body = remote_yaml(&[&sealed_addr, &hsm_node.endpoint], &api_key).replace(
        &format!("        key: {api_key}\n"),
        "        env: REMOTE_KMS_API_KEY\n",
    );
    assert!(body.contains("env: REMOTE_KMS_API_KEY"), "{body}");
    let config = write_config(tmp.path(), "config.yaml", &body);
    let node = Node::launch(
        &tmp.path().join("kms"),
        &["--config", config.to_str().unwrap()],
        &[("REMOTE_KMS_API_KEY", &api_key)],
        Duration::from_secs(60),
    )
    .expect("unsealed through the second server");
    runtime().block_on(async { node.root().create_enclave("e").await.unwrap() });
}

/// A remote cluster whose certificate the node cannot verify is a configuration error: the
/// node stops at once and says which setting to change, as it does for a wrong PIN, instead
/// of staying sealed and retrying a handshake that can never pass.
#[test]
fn a_remote_hsm_whose_certificate_cannot_be_verified_stops_the_node_with_what_to_set() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_node = Node::start(&tmp.path().join("hsm-cluster"), &soft_hsm_key());
    let api_key = prepare_hsm_cluster(&hsm_node);
    // Its self-signed certificate, without `insecure` and without `ca`.
    let yaml = remote_yaml(&[&hsm_node.endpoint], &api_key).replace("      insecure: true\n", "");
    let config = write_config(tmp.path(), "config.yaml", &yaml);
    let started = std::time::Instant::now();
    let failure = Node::launch(
        &tmp.path().join("kms"),
        &["--config", config.to_str().unwrap()],
        &[],
        Duration::from_secs(60),
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(failure.code, Some(1), "{}", failure.stderr);
    assert!(
        failure.stderr.contains("set hsm.minio.minkms.ca"),
        "{}",
        failure.stderr
    );
    assert!(failure.stderr.contains("certificate"), "{}", failure.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Migration step 3 (docs/hsm.md §12) while the HSM cluster is down: the node, sealed by the
/// soft HSM so far, gets the remote section and keeps the soft key. Its first start must seal
/// the root key for the HSM cluster too, so it stays sealed, saying why, until the HSM cluster
/// answers; the soft HSM alone does not bring it up on that start (the documentation says so).
#[test]
fn step_three_of_the_migration_waits_for_the_hsm_cluster_on_its_first_start() {
    let tmp = tempfile::tempdir().unwrap();
    let soft = soft_hsm_key();
    let dir = tmp.path().join("kms");
    let node = Node::start(&dir, &soft);
    node.kill();
    let hsm_addr = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        tmp.path(),
        "config.yaml",
        &remote_yaml(&[&hsm_addr], &ApiKey::generate().to_secret_string()),
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let node = Node::spawn(
        &dir,
        &["--addr", &addr, "--config", config.to_str().unwrap()],
        &[("MINIO_KMS_HSM_KEY", &soft)],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !node
        .logs()
        .contains("failed to seal root encryption key with HSM minkms:")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no sealing attempt for the HSM cluster:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let anonymous = node.client(None);
    let ready = runtime().block_on(async {
        let host = anonymous.endpoints()[0].clone();
        anonymous
            .send_to(&host, http::Method::GET, "/v1/health/ready", Bytes::new())
            .await
            .unwrap()
    });
    assert_eq!(ready.status, 503);
    assert!(
        String::from_utf8_lossy(&ready.body).contains("an HSM is unreachable"),
        "{:?}",
        ready.body
    );
}
