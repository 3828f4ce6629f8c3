//! The audit log: after a scripted session and a clean shutdown, one event per request, with
//! who did what to which names, and no secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use minkms_client::wire::EncryptRequest;
use minkms_client::{encode_frames, ApiKey};
use minkms_testkit::{runtime, Node};

#[test]
fn one_event_per_request_none_with_a_secret_and_none_lost_on_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    let node = Node::start_with_audit(tmp.path(), &log);
    let stranger = ApiKey::generate();
    let (requests, secrets) = runtime().block_on(async {
        let root = node.root();
        let mut requests = 0;
        let mut secrets: Vec<String> = vec![
            node.root_api_key.clone(),
            stranger.to_secret_string().to_string(),
        ];
        root.create_enclave("tenant").await.unwrap();
        root.create_key("tenant", "sse", "", false).await.unwrap();
        requests += 2;
        for i in 0..20u8 {
            let gen = root.generate_key("tenant", "sse", b"{}", 32).await.unwrap();
            let dec = root
                .decrypt("tenant", "sse", 0, &gen.ciphertext, b"{}")
                .await
                .unwrap();
            secrets.push(STANDARD.encode(&dec.plaintext));
            secrets.push(hex::encode(&dec.plaintext));
            let plaintext = [b'P', i, 0x5a, 0x5a, 0x5a, 0x5a];
            root.encrypt("tenant", "sse", &plaintext, b"")
                .await
                .unwrap();
            secrets.push(STANDARD.encode(plaintext));
            requests += 3;
        }
        root.import_key("tenant", "imported", "", &[0x6b; 32])
            .await
            .unwrap();
        secrets.push(STANDARD.encode([0x6b; 32]));
        requests += 1;
        assert!(root.key_status("tenant", "missing", 0).await.is_err());
        requests += 1;
        let as_stranger = node.client(Some(&stranger.to_secret_string()));
        assert!(as_stranger
            .generate_key("tenant", "sse", b"", 32)
            .await
            .is_err());
        requests += 1;
        // Backups are audited too: the root's, and a stranger's refused one.
        let mut backup = Vec::new();
        root.backup(|chunk| {
            backup.extend_from_slice(chunk);
            Ok(())
        })
        .await
        .unwrap();
        assert!(as_stranger.backup(|_| Ok(())).await.is_err());
        requests += 2;
        (requests, secrets)
    });
    assert_eq!(node.terminate(), Some(0), "a clean shutdown exits 0");

    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events.len(),
        requests,
        "one event per request, none lost:\n{text}"
    );
    let count = |cmd: &str, status: u64| {
        events
            .iter()
            .filter(|e| e["command"] == cmd && e["status"] == status)
            .count()
    };
    assert_eq!(count("KEY:GENERATE", 200), 20);
    assert_eq!(count("KEY:DECRYPT", 200), 20);
    assert_eq!(count("KEY:STATUS", 404), 1);
    // Refused before its body was read: the command is not known.
    assert_eq!(count("-", 403), 1);
    assert_eq!(count("BACKUP", 200), 1);
    assert_eq!(count("BACKUP", 403), 1);
    let denied = events.iter().find(|e| e["status"] == 403).unwrap();
    assert_eq!(denied["identity"], stranger.identity().as_str());
    assert_eq!(denied["enclave"], "tenant");
    assert_eq!(denied["names"], serde_json::json!([]));
    for e in &events {
        for field in [
            "time",
            "node",
            "remote",
            "identity",
            "enclave",
            "command",
            "names",
            "status",
            "latency_us",
        ] {
            assert!(!e[field].is_null(), "{field} missing in {e}");
        }
    }
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret is in the audit log: {secret}"
        );
    }
}

async fn post(
    client: &minkms_client::Client,
    endpoint: &str,
    path: &str,
    body: bytes::Bytes,
) -> u16 {
    client
        .send_to(endpoint, http::Method::POST, path, body)
        .await
        .unwrap()
        .status
        .as_u16()
}

/// Names that break the naming rule, an enclave of 30,000 characters in the URL and 50
/// unauthenticated 1 MiB bodies cost the audit log a few hundred bytes each, not megabytes.
#[test]
fn hostile_names_and_bodies_cost_the_audit_log_little() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    let node = Node::start_with_audit(tmp.path(), &log);
    let huge = "n".repeat(1 << 20);
    let requests = runtime().block_on(async {
        let root = node.root();
        root.create_enclave("tenant").await.unwrap();
        let frame = |name: &str| {
            encode_frames(
                205,
                [&EncryptRequest {
                    name: name.into(),
                    plaintext: vec![1; 16],
                    ..Default::default()
                }],
            )
        };
        for _ in 0..5 {
            let status = post(&root, &node.endpoint, "/v1/kms/tenant", frame(&huge)).await;
            assert!(status >= 400, "{status}");
        }
        let long_enclave = format!("/v1/kms/{}", "e".repeat(30_000));
        assert_ne!(
            post(&root, &node.endpoint, &long_enclave, frame("k")).await,
            200
        );
        let nobody = node.client(None);
        for _ in 0..50 {
            let status = post(&nobody, &node.endpoint, "/v1/kms/tenant", frame(&huge)).await;
            assert_eq!(status, 403);
        }
        1 + 5 + 1 + 50
    });
    assert_eq!(node.terminate(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), requests, "{text}");
    assert!(
        text.len() < requests * 400,
        "{} bytes for {requests} events",
        text.len()
    );
    let invalid = text.matches("(invalid name)").count();
    assert_eq!(invalid, 5 + 1, "{text}");
}

/// A stop (a signal, or a write the node could not make durable) answers the requests in
/// flight and audits them before the log is closed: the event of the request that stopped a
/// node used to be lost when its handler ran after the close. A log follower does not hold
/// the stop up.
#[test]
fn requests_in_flight_at_a_stop_are_answered_and_audited() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    let mut node = Node::start_with_audit(tmp.path(), &log);
    let root = ApiKey::parse(&node.root_api_key).unwrap();
    let (answer, took) = runtime().block_on(async {
        let follower = node
            .root()
            .follow_log(&minkms_client::wire::LogRequest {
                level: 8,
                ..Default::default()
            })
            .await
            .unwrap();
        // A request whose body is half sent when the stop comes.
        let mut tls = minkms_testkit::tls_connect_as(&node.endpoint, &[b"http/1.1"], Some(&root), None)
            .await
            .unwrap();
        tls.write_all(b"POST /v1/kms/in-flight HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n0123456789")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stopped = Instant::now();
        node.signal("TERM");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = tls.write_all(b"0123456789").await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
        drop(follower);
        (String::from_utf8_lossy(&answer).into_owned(), stopped)
    });
    assert!(answer.starts_with("HTTP/1.1 "), "no answer: {answer:?}");
    assert_eq!(node.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        took.elapsed() < Duration::from_secs(8),
        "the stop took {:?}",
        took.elapsed()
    );
    let audited = std::fs::read_to_string(&log).unwrap();
    assert!(
        audited
            .lines()
            .any(|l| l.contains("\"enclave\":\"in-flight\"")),
        "the request in flight is not in the audit log:\n{audited}"
    );
}
