//! Hostile clients: slow-loris, slow bodies, huge headers, too many connections, too many
//! HTTP/2 streams. Limits come from the config's `limits:` section (small values here).

use std::time::{Duration, Instant};

use minkms_testkit::{runtime, soft_hsm_key, tls_connect, Node};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn node_with_limits(dir: &std::path::Path, limits: &str) -> Node {
    let config = dir.join("config.yaml");
    std::fs::write(&config, format!("version: v1\nlimits:\n{limits}")).unwrap();
    Node::launch(
        &dir.join("kms"),
        &["--config", config.to_str().unwrap()],
        &[("MINIO_KMS_HSM_KEY", &soft_hsm_key())],
        Duration::from_secs(30),
    )
    .unwrap()
}

/// Reads until the server closes the connection; the bytes it sent before.
async fn read_to_close<S: AsyncReadExt + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[test]
fn slow_loris_and_slow_bodies_are_cut_off() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(tmp.path(), "  request_timeout: 1\n");
    runtime().block_on(async {
        // Headers that never end.
        let mut tls = tls_connect(&node.endpoint, &[b"http/1.1"]).await.unwrap();
        tls.write_all(b"POST /v1/kms/e HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let started = Instant::now();
        assert!(read_to_close(&mut tls, Duration::from_secs(10)).await.is_some(), "the server must close a slow-loris connection");
        assert!(started.elapsed() < Duration::from_secs(5));

        // A body that never arrives.
        let mut tls = tls_connect(&node.endpoint, &[b"http/1.1"]).await.unwrap();
        tls.write_all(b"POST /v1/kms/e HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n0123456789").await.unwrap();
        let answer = read_to_close(&mut tls, Duration::from_secs(10)).await.expect("an answer, then close");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request timeout"), "{answer}");
    });
}

#[test]
fn huge_headers_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(tmp.path(), "  request_timeout: 5\n");
    runtime().block_on(async {
        let mut tls = tls_connect(&node.endpoint, &[b"http/1.1"]).await.unwrap();
        let big = "a".repeat(100 << 10);
        let request = format!("GET /version HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
        let _ = tls.write_all(request.as_bytes()).await;
        let answer = read_to_close(&mut tls, Duration::from_secs(10))
            .await
            .unwrap_or_default();
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
            "{answer}"
        );
    });
    // The node is unharmed.
    assert!(runtime().block_on(node.client(None).version(None)).is_ok());
}

#[test]
fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(tmp.path(), "  max_connections: 2\n");
    runtime().block_on(async {
        let a = tls_connect(&node.endpoint, &[b"http/1.1"]).await.unwrap();
        let _b = tls_connect(&node.endpoint, &[b"http/1.1"]).await.unwrap();
        // The third TCP connection lands in the backlog; its handshake is not served.
        let third = tokio::time::timeout(
            Duration::from_millis(700),
            tls_connect(&node.endpoint, &[b"http/1.1"]),
        )
        .await;
        assert!(
            third.is_err(),
            "a third connection was served beyond max_connections: 2"
        );
        drop(a);
        let fourth = tokio::time::timeout(
            Duration::from_secs(5),
            tls_connect(&node.endpoint, &[b"http/1.1"]),
        )
        .await;
        assert!(
            matches!(fourth, Ok(Ok(_))),
            "a slot freed by a closed connection is reused"
        );
    });
}

#[test]
fn http2_announces_the_stream_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(tmp.path(), "  max_concurrent_streams: 7\n");
    runtime().block_on(async {
        let tls = tls_connect(&node.endpoint, &[b"h2"]).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (client, connection) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        // The server's SETTINGS frame arrives with the first exchange.
        let request = http::Request::get("https://localhost/version")
            .body(())
            .unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);
        assert_eq!(client.current_max_send_streams(), 7);
    });
}
