//! Crash safety: SIGKILL a node at random instants while it takes writes; after every restart,
//! every acknowledged write is there, and nothing half-applied is visible.
//!
//! CI runs a few iterations; `MINKMS_CRASH_ITERATIONS=200 cargo test -p minkms --test crash`
//! runs the long version by hand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use minkms_testkit::{runtime, soft_hsm_key, Node};
use rand::Rng;

#[test]
fn sigkill_during_writes_loses_no_acknowledged_write() {
    let iterations: usize = std::env::var("MINKMS_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kms");
    let key = soft_hsm_key();
    let mut acked_total: Vec<String> = Vec::new();
    {
        let node = Node::start(&dir, &key);
        runtime().block_on(node.root().create_enclave("e")).unwrap();
        node.kill();
    }
    let mut rng = rand::thread_rng();
    for round in 0..iterations {
        let node = Node::start(&dir, &key);
        let client = node.root();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let acked = acked.clone();
            std::thread::spawn(move || {
                runtime().block_on(async {
                    for n in 0.. {
                        let name = format!("k-{round}-{n}");
                        // Alternate kinds of writes: new keys and new versions of them.
                        let result = if n % 3 == 2 {
                            client
                                .create_key("e", &format!("k-{round}-{}", n - 1), "", true)
                                .await
                        } else {
                            client.create_key("e", &name, "", false).await
                        };
                        match result {
                            Ok(()) if n % 3 == 2 => {
                                acked.lock().unwrap().push(format!("k-{round}-{}@2", n - 1))
                            }
                            Ok(()) => acked.lock().unwrap().push(name),
                            Err(_) => return,
                        }
                    }
                })
            })
        };
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..400)));
        node.kill();
        writer.join().unwrap();
        let acked = acked.lock().unwrap().clone();
        acked_total.extend(acked.iter().cloned());

        // Restart and check this round's acknowledged writes, a sample of older ones, and (in
        // the last round) all of them.
        let node = Node::start(&dir, &key);
        let to_check: Vec<String> = if round + 1 == iterations {
            acked_total.clone()
        } else {
            let mut sample: Vec<String> = acked.clone();
            for _ in 0..50.min(acked_total.len()) {
                sample.push(acked_total[rng.gen_range(0..acked_total.len())].clone());
            }
            sample
        };
        runtime().block_on(async {
            let root = node.root();
            for name in &to_check {
                let (name, version) = match name.split_once('@') {
                    Some((n, v)) => (n, v.parse().unwrap()),
                    None => (name.as_str(), 1),
                };
                let status = root.key_status("e", name, version).await;
                assert!(
                    status.is_ok(),
                    "round {round}: acknowledged {name} v{version} lost: {status:?}"
                );
            }
            // Nothing half-applied: every key of this round listed is whole and usable.
            let prefix = format!("k-{round}-");
            let mut at = String::new();
            loop {
                let page = root.list_keys("e", &prefix, &at, 0).await.unwrap();
                for k in &page.keys {
                    let enc = root.encrypt("e", &k.name, b"x", b"").await.unwrap();
                    assert_eq!(
                        root.decrypt("e", &k.name, 0, &enc.ciphertext, b"")
                            .await
                            .unwrap()
                            .plaintext,
                        b"x"
                    );
                }
                if page.continue_at.is_empty() {
                    break;
                }
                at = page.continue_at;
            }
        });
        node.kill();
    }
    assert!(
        !acked_total.is_empty(),
        "no write was acknowledged: the test proved nothing"
    );
    eprintln!(
        "{iterations} crashes, {} acknowledged writes, 0 lost",
        acked_total.len()
    );
}
