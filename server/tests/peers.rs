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
    a.cli(&["add", &b.endpoint]);
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

/// Mirrors of what peers send (server/src/cluster/), postcard-encoded the same way.
#[derive(serde::Serialize)]
enum Forwarded {
    Write(minkms_keystore::Command),
}

#[derive(serde::Serialize)]
struct Removed {
    delete: bool,
}

fn create_enclave(name: &str) -> Vec<u8> {
    postcard::to_allocvec(&Forwarded::Write(minkms_keystore::Command::CreateEnclave {
        name: name.into(),
        at: minkms_keystore::Timestamp::now(),
        by: "a test playing a node".into(),
    }))
    .unwrap()
}

/// One peer call to `endpoint` as `credentials`: the status and the body as text.
fn peer_call(
    endpoint: &str,
    credentials: &std::sync::Arc<rustls::sign::CertifiedKey>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    runtime()
        .block_on(minkms_testkit::peer_request(
            endpoint,
            credentials,
            method,
            path,
            body,
        ))
        .unwrap()
}

/// The cluster id of the node at `endpoint`, asked over the peer channel as some node of
/// some cluster (status answers any holder of the HSM key).
fn cluster_id(endpoint: &str, key: &str) -> String {
    let anyone = minkms_testkit::node_credentials(key, "00000000-0000-0000-0000-000000000000", 0);
    let (status, body) = peer_call(endpoint, &anyone, "GET", "/v1/rpc/status", b"");
    assert_eq!(status, 200);
    <minkms_client::wire::ServerStatusResponse as prost::Message>::decode(&body[..])
        .unwrap()
        .cluster_id
}

/// Nodes a (node 0, the leader) and b (node 1) of one cluster, and its id.
fn two_nodes(dir: &std::path::Path, key: &str) -> (Node, Node, String) {
    let a = Node::start(&dir.join("a"), key);
    let b = Node::start(&dir.join("b"), key);
    a.cli(&["add", &b.endpoint]);
    let cluster = cluster_id(&a.endpoint, key);
    assert_eq!(cluster_id(&b.endpoint, key), cluster);
    (a, b, cluster)
}

fn enclaves(node: &Node) -> String {
    node.cli(&["ls-enclave"])
}

#[test]
fn a_removed_node_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let (a, b, cluster) = two_nodes(tmp.path(), &key);
    let as_b = minkms_testkit::node_credentials(&key, &cluster, 1);
    let forward = |name: &str| {
        peer_call(
            &a.endpoint,
            &as_b,
            "POST",
            "/v1/rpc/forward",
            &create_enclave(name),
        )
    };
    // A member's forwarded write is taken.
    let (status, body) = forward("while-member");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(enclaves(&a).contains("while-member"));
    a.cli(&["rm", &b.endpoint]);
    // Once it is removed, the same credentials write nothing.
    let (status, body) = forward("after-removal");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("node 1 is not a member of this cluster"),
        "{body}"
    );
    assert!(!enclaves(&a).contains("after-removal"));
    // Nor does a node that was never added (the next id).
    let as_next = minkms_testkit::node_credentials(&key, &cluster, 2);
    let (status, _) = peer_call(
        &a.endpoint,
        &as_next,
        "POST",
        "/v1/rpc/forward",
        &create_enclave("never-added"),
    );
    assert_eq!(status, 409);
    assert!(!enclaves(&a).contains("never-added"));
}

#[test]
fn a_node_speaks_only_for_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let (a, _b, cluster) = two_nodes(tmp.path(), &key);
    let as_b = minkms_testkit::node_credentials(&key, &cluster, 1);
    // A message that says it is from node 0, sent by node 1, to node 0.
    let env = minkms_replication::Envelope {
        from: 0,
        to: 0,
        term: 1_000,
        epoch: 1_000,
        msg: minkms_replication::Message::Probe { nonce: 1 },
    };
    let (status, body) = peer_call(
        &a.endpoint,
        &as_b,
        "POST",
        "/v1/rpc/replicate",
        &postcard::to_allocvec(&env).unwrap(),
    );
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("a node speaks only for itself"));
    // Node 1's key in a certificate that names node 0 is no peer at all.
    let posing = minkms_testkit::node_credentials_named(&key, &cluster, 1, 0);
    let (status, body) = peer_call(&a.endpoint, &posing, "GET", "/v1/rpc/status", b"");
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn a_removal_notice_is_checked_with_the_cluster_before_it_is_acted_on() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let (a, b, cluster) = two_nodes(tmp.path(), &key);
    let notice = postcard::to_allocvec(&Removed { delete: true }).unwrap();
    let tell_b = |id: u64| {
        let from = minkms_testkit::node_credentials(&key, &cluster, id);
        peer_call(&b.endpoint, &from, "POST", "/v1/rpc/removed", &notice).0
    };
    // From a node that is not a member: refused.
    assert_eq!(tell_b(5), 409);
    // From a member, but b is a member too: heard, checked, and b stays.
    assert_eq!(tell_b(0), 200);
    std::thread::sleep(Duration::from_secs(2));
    b.cli(&["add-enclave", "still-served"]);
    assert!(enclaves(&a).contains("still-served"));
    // A real removal still reaches it: `rm` commits, then tells it.
    a.cli(&["rm", &b.endpoint]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = b.cli_as(&b.root_api_key, &["ls-enclave"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("server not part of cluster") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stderr}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An error the leader answers reaches the client as the leader's message, whichever node the
/// client asked: a follower passes it on as text, never as the leader's encoded body.
#[test]
fn an_error_relayed_by_a_follower_reads_as_the_leaders_message() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let a = Node::start(&tmp.path().join("a"), &key);
    let b = Node::start(&tmp.path().join("b"), &key);
    a.cli(&["add", &b.endpoint]);
    a.cli(&["add-enclave", "e"]);
    // One of the two is a follower, which passes `add` of the other on to the leader; both
    // must answer the same.
    for (node, other) in [(&a, &b), (&b, &a)] {
        let out = node.cli_as(&a.root_api_key, &["add-enclave", "e"]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("enclave already exists"), "{stderr}");
        assert!(!stderr.contains('{'), "{stderr}");
        let out = node.cli_as(&a.root_api_key, &["add", &other.endpoint]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("already part of this cluster"), "{stderr}");
        assert!(!stderr.contains('{'), "{stderr}");
    }
}

/// `rm` of a node that is down cannot commit (it needs every node) and says how to remove it
/// instead: `edit --rm` with its id.
#[test]
fn rm_of_a_node_that_is_down_points_to_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let a = Node::start(&tmp.path().join("a"), &key);
    let b = Node::start(&tmp.path().join("b"), &key);
    let c = Node::start(&tmp.path().join("c"), &key);
    a.cli(&["add", &b.endpoint]);
    a.cli(&["add", &c.endpoint]);
    let c_host = c.endpoint.trim_start_matches("https://").to_string();
    c.kill();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let stderr = loop {
        let out = a.cli_as(&a.root_api_key, &["rm", &c_host]);
        assert_ne!(out.status.code(), Some(0), "rm of a dead node succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if stderr.contains("is down") || std::time::Instant::now() > deadline {
            break stderr;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        stderr.contains(&format!("node 2 ({c_host}) is down")),
        "{stderr}"
    );
    assert!(stderr.contains("'minkms edit SERVER --rm 2'"), "{stderr}");
    // `stat` shows it down and fails as a check.
    let stat = a.cli_as(&a.root_api_key, &["stat"]);
    assert_eq!(stat.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stat.stdout).contains("[2/3] nodes are up"));
}
