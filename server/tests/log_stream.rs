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
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = None;
    for line in lines.map_while(Result::ok) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["message"]
            .as_str()
            .is_some_and(|m| m.contains("TLS handshake failed"))
        {
            seen = Some(v);
            break;
        }
        assert!(Instant::now() < deadline, "no record seen");
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let record = seen.expect("the follower saw the node's log");
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
