//! Node-to-node trust: nodes whose HSM communication keys differ cannot talk to each other,
//! and say so clearly; API clients cannot pose as peers.

use std::time::Duration;

use bytes::Bytes;
use minkms_testkit::{runtime, soft_hsm_key, Node};

#[test]
fn nodes_with_different_hsm_keys_cannot_talk_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Node::start(&tmp.path().join("a"), &soft_hsm_key());
    let b = Node::start(&tmp.path().join("b"), &soft_hsm_key());
    let out = a.cli_as(&a.root_api_key, &["add", &b.endpoint]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot add node {}", b.endpoint)),
        "{stderr}"
    );
    assert!(
        stderr.contains("holds a different HSM communication key"),
        "{stderr}"
    );
    // The seed's form: `minkms add SERVER NODE`.
    let out = b.cli_as(&b.root_api_key, &["add", &b.endpoint, &a.endpoint]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds a different HSM communication key")
    );
}

#[test]
fn nodes_with_the_same_hsm_key_trust_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let a = Node::start(&tmp.path().join("a"), &key);
    let b = Node::start(&tmp.path().join("b"), &key);
    let out = a.cli_as(&a.root_api_key, &["add", &b.endpoint]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unreachable = a.cli_as(
        &a.root_api_key,
        &["add", &format!("127.0.0.1:{}", minkms_testkit::free_port())],
    );
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot connect to"));
}

#[test]
fn api_clients_are_not_peers() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::launch(
        &tmp.path().join("a"),
        &[],
        &[("MINIO_KMS_HSM_KEY", &soft_hsm_key())],
        Duration::from_secs(30),
    )
    .unwrap();
    runtime().block_on(async {
        for client in [node.root(), node.client(None)] {
            let host = client.endpoints()[0].clone();
            let r = client
                .send_to(&host, http::Method::GET, "/v1/rpc/status", Bytes::new())
                .await
                .unwrap();
            assert_eq!(r.status, 403);
            assert!(String::from_utf8_lossy(&r.body).contains("not a peer of this cluster"));
        }
    });
}
