//! `POST /v1/debug/log` / `minkms log`: the root follows a node's log as it happens; nobody
//! else may.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use minkms_testkit::{bin, soft_hsm_key, Node};

#[test]
fn the_root_follows_the_log_and_others_may_not() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let mut follower = Command::new(bin())
        .args([
            "log",
            "-k",
            "-s",
            &node.endpoint,
            "-a",
            &node.root_api_key,
            "--level",
            "debug",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    // Make the node log: failed TLS handshakes are logged at debug level.
    let endpoint = node.endpoint.clone();
    std::thread::spawn(move || {
        for _ in 0..50 {
            if let Ok(mut s) = std::net::TcpStream::connect(&endpoint) {
                let _ = std::io::Write::write_all(&mut s, b"not TLS\r\n\r\n");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // Lines come through a channel so that the deadline holds even when none arrives.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = None;
    while seen.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["message"]
            .as_str()
            .is_some_and(|m| m.contains("TLS handshake failed"))
        {
            seen = Some(v);
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let record = seen.expect("the follower saw the node's log within 20 s");
    assert_eq!(record["level"], "DEBUG");
    assert!(record["time"].as_str().is_some_and(|t| !t.is_empty()));

    // Anyone but the root gets 403.
    let out = Command::new(bin())
        .args([
            "log",
            "-k",
            "-s",
            &node.endpoint,
            "-a",
            &minkms_client::ApiKey::generate().to_secret_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("access denied"));
}

/// A follower that goes away is forgotten at once, even when its filter matches nothing: it
/// used to leave a task (and the formatting of every log event) behind until a record matched.
#[test]
fn followers_that_leave_leave_no_task_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let tasks = || minkms_testkit::metric(&node.scrape(), "minkms_tokio_tasks").unwrap();
    let before = tasks();
    let root = node.root();
    let filter = minkms_client::wire::LogRequest {
        level: 8,
        message: "a message no record has".into(),
        ..Default::default()
    };
    minkms_testkit::runtime().block_on(async {
        for _ in 0..20 {
            let reader = root.follow_log(&filter).await.unwrap();
            drop(reader);
        }
    });
    drop(root);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = tasks();
        if now <= before + 3.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{now} tasks after 20 followers left, {before} before"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// MinIO's pinned client (kms-go before June 2025) and today's both follow the log: the
/// request's field 4 is a method string in the one and the trace level in the other, and
/// every record carries field 5, which the older client reads unconditionally.
#[test]
fn old_and_new_kms_go_layouts_both_follow_the_log() {
    use minkms_client::wire::{LogRequest, LogRequestBefore2025};
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let root = node.root();
    let marker = "TLS handshake failed";
    let old = LogRequestBefore2025 {
        level: -4,
        message: marker.into(),
        method: "POST".into(),
        path: "/v1/kms".into(),
        trace_level: 1,
        ..Default::default()
    };
    let new = LogRequest {
        level: -4,
        message: marker.into(),
        trace_level: 1,
        ..Default::default()
    };
    let endpoint = node.endpoint.clone();
    std::thread::spawn(move || {
        for _ in 0..100 {
            if let Ok(mut s) = std::net::TcpStream::connect(&endpoint) {
                let _ = std::io::Write::write_all(&mut s, b"not TLS\r\n\r\n");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    minkms_testkit::runtime().block_on(async {
        let readers = [
            ("before 2025", root.follow_log(&old).await),
            ("today", root.follow_log(&new).await),
        ];
        for (layout, reader) in readers {
            let mut reader = reader.unwrap_or_else(|e| panic!("{layout}: {e}"));
            let record = tokio::time::timeout(Duration::from_secs(20), reader.next())
                .await
                .unwrap_or_else(|_| panic!("{layout}: no record within 20 s"))
                .unwrap()
                .unwrap();
            assert!(record.message.contains(marker), "{layout}: {record:?}");
            assert!(record.req.is_some(), "{layout}: field 5 missing");
        }
    });
}
