//! Hostile clients: slow-loris, slow bodies, huge headers, idle connections, too many
//! connections (in all and from one address), too many HTTP/2 streams, bodies sent by callers
//! who may not act. Limits come from the config's `limits:` section (small values here).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use minkms_client::{ApiKey, LogReader};
use minkms_testkit::{runtime, soft_hsm_key, tls_connect, tls_connect_as, Node};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn loopback(last: u8) -> Option<IpAddr> {
    Some(IpAddr::from([127, 0, 0, last]))
}

fn root_key(node: &Node) -> ApiKey {
    ApiKey::parse(&node.root_api_key).unwrap()
}

/// `count` connections that complete the handshake and then send nothing, from `addresses`
/// loopback addresses starting at `127.0.0.first`, alternately offering http/1.1 and h2, in
/// order (a few milliseconds apart, so which is oldest is well defined).
async fn hold_silent(
    node: &Node,
    count: usize,
    first: u8,
    addresses: u8,
) -> Vec<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut held = Vec::new();
    for i in 0..count {
        let alpn: &[&[u8]] = if i % 2 == 0 { &[b"http/1.1"] } else { &[b"h2"] };
        let from = loopback(first + (i % usize::from(addresses)) as u8);
        held.push(
            tls_connect_as(&node.endpoint, alpn, None, from)
                .await
                .unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    held
}

/// `GET /v1/health/live` over a fresh connection, and how long it took.
async fn live(node: &Node) -> Duration {
    let started = Instant::now();
    let client = node.client(None);
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        client.send_to(
            &node.endpoint,
            http::Method::GET,
            "/v1/health/live",
            Default::default(),
        ),
    )
    .await
    .expect("/v1/health/live answers while the slots are held")
    .unwrap();
    assert_eq!(answer.status, 200);
    started.elapsed()
}

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

        // A body that never arrives, from a caller who may send one.
        let root = root_key(&node);
        let mut tls = tls_connect_as(&node.endpoint, &[b"http/1.1"], Some(&root), None).await.unwrap();
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
    // The request timeout is far beyond the wait below: the refusal must come from the header
    // limit, not from a timer, and a server that hangs fails the test.
    let node = node_with_limits(tmp.path(), "  request_timeout: 60\n");
    runtime().block_on(async {
        let mut tls = tls_connect(&node.endpoint, &[b"http/1.1"]).await.unwrap();
        let big = "a".repeat(100 << 10);
        let request = format!("GET /version HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
        // The server may close while the request is still being written.
        let _ = tls.write_all(request.as_bytes()).await;
        let answer = read_to_close(&mut tls, Duration::from_secs(10))
            .await
            .expect("the server answers 431 or closes the connection; it must not hang");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
            "{answer}"
        );
    });
    // The node is unharmed.
    assert!(runtime().block_on(node.client(None).version(None)).is_ok());
}

/// A streamed log: a request that lasts, keeping its connection busy.
async fn follower(node: &Node) -> LogReader {
    node.root()
        .follow_log(&minkms_client::wire::LogRequest::default())
        .await
        .unwrap()
}

#[test]
fn when_every_connection_is_busy_newcomers_wait_for_a_free_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(
        tmp.path(),
        "  max_connections: 2
",
    );
    runtime().block_on(async {
        let a = follower(&node).await;
        let _b = follower(&node).await;
        // The third TCP connection is held; its handshake is not served.
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

/// Connections that complete the handshake and send nothing (HTTP/1.1 and h2 by ALPN) hold no
/// slot that a working client needs, and are closed after `request_timeout`.
#[test]
fn connections_that_send_nothing_give_way_and_are_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(
        tmp.path(),
        "  max_connections: 8\n  request_timeout: 2\n  idle_timeout: 3\n",
    );
    runtime().block_on(async {
        let mut held = hold_silent(&node, 8, 2, 4).await;
        // Every slot is taken: a newcomer still gets an answer, in the slot of an idle one.
        live(&node).await;
        let started = Instant::now();
        for tls in &mut held {
            assert!(
                read_to_close(tls, Duration::from_secs(6)).await.is_some(),
                "a connection that sent nothing was kept open"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    });
}

/// An HTTP/1.1 connection that has had one `GET /version` answered, whole.
async fn answered_once(node: &Node) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut tls = tls_connect(&node.endpoint, &[b"http/1.1"]).await.unwrap();
    tls.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The answer may come in more than one read: until its head and Content-Length bytes.
    loop {
        let n = tls.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
        let Some(head_end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..head_end]
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if got.len() >= head_end + 4 + length {
            break;
        }
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    tls
}

/// An HTTP/1.1 connection between requests is idle: it stays open for `idle_timeout` after its
/// last answer, not `request_timeout` (clients keep idle connections for up to 90 s).
#[test]
fn http1_keep_alive_lasts_the_idle_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(tmp.path(), "  request_timeout: 1\n  idle_timeout: 4\n");
    runtime().block_on(async {
        let mut tls = answered_once(&node).await;
        let started = Instant::now();
        let closed = read_to_close(&mut tls, Duration::from_secs(10)).await;
        assert_eq!(
            closed.as_deref(),
            Some(&b""[..]),
            "closed with nothing more sent"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(3800),
            "closed after {took:?}, before idle_timeout"
        );
        assert!(took < Duration::from_secs(7), "{took:?}");

        // Headers begun after a request and never finished: the connection is still idle
        // (it gives way to a newcomer when the slots run out) and is closed on the same clock.
        let mut tls = answered_once(&node).await;
        let started = Instant::now();
        tls.write_all(b"POST /v1/kms/e HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let closed = read_to_close(&mut tls, Duration::from_secs(10)).await;
        assert!(closed.is_some(), "a slow-loris connection was kept open");
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "{:?}",
            started.elapsed()
        );
    });
}

/// An HTTP/2 connection that answers pings but opens no stream is idle: closed after
/// `request_timeout` when it never asked anything, after `idle_timeout` between requests.
#[test]
fn http2_connections_without_streams_are_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(tmp.path(), "  request_timeout: 2\n  idle_timeout: 3\n");
    runtime().block_on(async {
        for ask_first in [false, true] {
            let tls = tls_connect(&node.endpoint, &[b"h2"]).await.unwrap();
            let (client, connection) = h2::client::handshake(tls).await.unwrap();
            // The connection task answers the server's pings and SETTINGS; it ends when the
            // server closes.
            let connection = tokio::spawn(connection);
            let started = Instant::now();
            // Held until the end: a client without a handle closes its side itself.
            let mut client = client.ready().await.unwrap();
            if ask_first {
                let request = http::Request::get("https://localhost/version")
                    .body(())
                    .unwrap();
                let (response, _) = client.send_request(request, true).unwrap();
                assert_eq!(response.await.unwrap().status(), 200);
            }
            let ended = tokio::time::timeout(Duration::from_secs(8), connection).await;
            assert!(
                ended.is_ok(),
                "an h2 connection with no stream was kept open"
            );
            let took = started.elapsed();
            let limit = if ask_first { 3 } else { 2 };
            assert!(
                took >= Duration::from_millis(limit * 1000 - 200),
                "{took:?}"
            );
            assert!(took < Duration::from_secs(limit + 3), "{took:?}");
            drop(client);
        }
    });
}

/// One address holding all of its slots cannot take more: its own idle connections give way,
/// and the other addresses are served.
#[test]
fn one_address_cannot_hold_every_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(
        tmp.path(),
        "  max_connections: 16\n  max_connections_per_address: 4\n",
    );
    runtime().block_on(async {
        let mut held = hold_silent(&node, 6, 9, 1).await;
        // The two oldest of that address are closed; the four newest are open.
        for (i, tls) in held.iter_mut().enumerate() {
            let closed = read_to_close(tls, Duration::from_secs(2)).await.is_some();
            assert_eq!(closed, i < 2, "connection {i} of 6 from one address");
        }
        live(&node).await;
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

/// A caller without a certificate, or with one the enclave does not know, is refused before
/// its body is read: announcing 4 MiB and sending nothing costs the server nothing.
#[test]
fn callers_who_may_not_act_are_refused_before_their_body() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(tmp.path(), "  request_timeout: 10\n");
    runtime().block_on(async {
        node.root().create_enclave("tenant").await.unwrap();
        let stranger = ApiKey::generate();
        for (who, key) in [("no certificate", None), ("a stranger", Some(&stranger))] {
            for path in ["/v1/kms/tenant", "/v1/kms"] {
                let mut tls = tls_connect_as(&node.endpoint, &[b"http/1.1"], key, None).await.unwrap();
                let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 4194304\r\n\r\n");
                tls.write_all(head.as_bytes()).await.unwrap();
                let started = Instant::now();
                let mut buf = vec![0u8; 4096];
                let n = tokio::time::timeout(Duration::from_secs(3), tls.read(&mut buf))
                    .await
                    .unwrap_or_else(|_| panic!("{who} on {path}: no answer before the body"))
                    .unwrap();
                let answer = String::from_utf8_lossy(&buf[..n]);
                assert!(answer.starts_with("HTTP/1.1 403"), "{who} on {path}: {answer}");
                assert!(started.elapsed() < Duration::from_secs(2));
            }
        }
        // The same through the client library: API.md's exact error.
        let stranger = node.client(Some(&stranger.to_secret_string()));
        let err = stranger.create_key("tenant", "k", "", false).await.unwrap_err();
        assert!(err.to_string().contains("access denied: insufficient permissions"), "{err}");
    });
}

/// While 64 connections that send nothing are held from four addresses (every slot), an
/// authenticated client keeps working.
#[test]
fn a_flood_of_idle_connections_does_not_stop_authenticated_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_limits(
        tmp.path(),
        "  max_connections: 64\n  max_connections_per_address: 16\n",
    );
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("tenant").await.unwrap();
        root.create_key("tenant", "k", "", false).await.unwrap();
        let _held = hold_silent(&node, 64, 20, 4).await;
        for _ in 0..20 {
            let fresh = node.root();
            tokio::time::timeout(
                Duration::from_secs(5),
                fresh.generate_key("tenant", "k", b"", 32),
            )
            .await
            .expect("KEY:GENERATE answers while idle connections hold every slot")
            .unwrap();
            live(&node).await;
        }
    });
}
