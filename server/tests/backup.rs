//! Backup and restore with real processes (seed 003, total cluster failure): a 3-node cluster
//! with enclaves, 1,000 keys, identities and policies is backed up under write load, destroyed,
//! restored onto a fresh node and scaled back; every ciphertext made before the backup still
//! decrypts and every identity's API key still works. Damaged and foreign backups are refused
//! and leave the node as it was.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minkms_client::wire::{CreateIdentityRequest, CreatePolicyRequest, Rule, RuleSet};
use minkms_client::{ApiKey, Client};
use minkms_testkit::{all_keys, client_for as client, runtime, soft_hsm_key, Member, Node};

fn cli(node: &Node, root: &str, args: &[&str]) -> std::process::Output {
    node.cli_as(root, args)
}

const ENCLAVES: [&str; 3] = ["tenant-a", "tenant-b", "tenant-c"];

/// Key `later-{n}` of the writer that runs during the backup, acknowledged; `sealed` is its
/// name encrypted under it, taken right after (absent if that failed).
#[derive(Clone, Debug)]
struct Later {
    n: usize,
    sealed: Option<Vec<u8>>,
}

/// Waits up to 30 s for `done`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
const KEYS: usize = 1000;

#[test]
fn a_destroyed_cluster_comes_back_from_a_backup_taken_under_load() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let old: Vec<Member> = (0..3)
        .map(|i| Member::new(tmp.path(), &format!("old{i}")))
        .collect();
    let nodes: Vec<Node> = old.iter().map(|m| m.start(&key)).collect();
    let root = nodes[0].root_api_key.clone();
    let rt = runtime();
    let c0 = client(&old[0].addr, &root);
    // Enclaves, keys, policies and identities; a ciphertext of every key.
    let (ciphertexts, identities) = rt.block_on(async {
        for m in &old[1..] {
            c0.add_node(&m.addr).await.unwrap();
        }
        let rules = |pats: &[&str]| RuleSet {
            rules: pats.iter().map(|p| (p.to_string(), Rule {})).collect(),
        };
        let mut identities = Vec::new();
        for e in ENCLAVES {
            c0.create_enclave(e).await.unwrap();
            let policy = CreatePolicyRequest {
                name: "app".into(),
                allow: [
                    ("KEY:ENCRYPT".to_string(), rules(&["key-*"])),
                    ("KEY:DECRYPT".into(), rules(&["key-*"])),
                ]
                .into(),
                deny: Default::default(),
            };
            c0.create_policy(e, &policy).await.unwrap();
            let api_key = ApiKey::generate();
            let req = CreateIdentityRequest {
                identity: api_key.identity().to_string(),
                privilege: "User".into(),
                is_service_account: false,
                tags: Default::default(),
            };
            c0.create_identity(e, &req).await.unwrap();
            c0.assign_policy(e, "app", api_key.identity().as_str())
                .await
                .unwrap();
            identities.push((e, api_key.to_secret_string().to_string()));
        }
        let mut ciphertexts = Vec::new();
        for i in 0..KEYS {
            let (e, name) = (ENCLAVES[i % 3], format!("key-{i}"));
            c0.create_key(e, &name, "", false).await.unwrap();
            let plaintext = format!("secret {i}").into_bytes();
            let ct = c0.encrypt(e, &name, &plaintext, b"ctx").await.unwrap();
            ciphertexts.push((e, name, plaintext, ct.ciphertext));
        }
        (ciphertexts, identities)
    });

    // Back up from a follower while one writer keeps creating keys `later-N` (N = 0, 1, ...)
    // through the leader, sealing a ciphertext under each acknowledged one.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Later>>> = Arc::default();
    let load = {
        let (stop, acked, c) = (stop.clone(), acked.clone(), client(&old[0].addr, &root));
        rt.spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("later-{n}");
                if c.create_key("tenant-a", &name, "", false).await.is_ok() {
                    let sealed = c.encrypt("tenant-a", &name, name.as_bytes(), b"").await;
                    let sealed = sealed.map(|s| s.ciphertext).ok();
                    acked.lock().unwrap().push(Later { n, sealed });
                }
                n += 1;
            }
        })
    };
    let acked_count = || acked.lock().unwrap().len();
    wait_for("the writer's first keys", || acked_count() >= 20);
    let acked_before = acked_count();
    let file = tmp.path().join("kms.backup");
    let out = cli(
        &nodes[1],
        &root,
        &["backup", &old[1].addr, file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Backup written to"));
    let acked_by_end = acked_count();
    wait_for("writes after the backup", || {
        acked_count() >= acked_by_end + 20
    });
    stop.store(true, Ordering::Relaxed);
    rt.block_on(load).unwrap();
    let acked = acked.lock().unwrap().clone();

    // Total loss.
    for n in nodes {
        n.kill();
    }
    for m in &old {
        std::fs::remove_dir_all(&m.dir).unwrap();
    }

    // A fresh node, the same HSM key: restore, then add two fresh nodes.
    let new: Vec<Member> = (0..3)
        .map(|i| Member::new(tmp.path(), &format!("new{i}")))
        .collect();
    let fresh: Vec<Node> = new.iter().map(|m| m.start(&key)).collect();
    let out = cli(
        &fresh[0],
        &root,
        &[
            "restore",
            &new[0].addr,
            "--api-key",
            &root,
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ls = String::from_utf8_lossy(&cli(&fresh[0], &root, &["ls-enclave"]).stdout).into_owned();
    for e in ENCLAVES {
        assert!(ls.contains(e), "{ls}");
    }
    let policies = String::from_utf8_lossy(
        &cli(&fresh[0], &root, &["ls-policy", "--enclave", "tenant-b"]).stdout,
    )
    .into_owned();
    assert!(policies.contains("app"), "{policies}");
    let c = client(&new[0].addr, &root);
    rt.block_on(async {
        for m in &new[1..] {
            c.add_node(&m.addr).await.unwrap();
        }
    });
    // Every ciphertext made before the backup decrypts, on every node.
    let clients: Vec<Client> = new.iter().map(|m| client(&m.addr, &root)).collect();
    rt.block_on(async {
        for (i, (e, name, plaintext, ct)) in ciphertexts.iter().enumerate() {
            let pt = clients[i % 3]
                .decrypt(e, name, 0, ct, b"ctx")
                .await
                .unwrap();
            assert_eq!(&pt.plaintext, plaintext, "{e}/{name}");
        }
        // The identities' API keys still work, within their policies.
        for (e, api_key) in &identities {
            let user = client(&new[2].addr, api_key);
            let ct = user.encrypt(e, "key-3", b"x", b"").await;
            let mine = ENCLAVES.iter().position(|x| x == e).unwrap();
            let name = format!("key-{}", (0..KEYS).find(|i| i % 3 == mine).unwrap());
            let ct_own = user.encrypt(e, &name, b"x", b"").await.unwrap();
            assert_eq!(
                user.decrypt(e, &name, 0, &ct_own.ciphertext, b"")
                    .await
                    .unwrap()
                    .plaintext,
                b"x"
            );
            if *e != "tenant-a" {
                // key-3 lives in tenant-a: not found elsewhere.
                assert!(ct.is_err());
            }
        }
        // The keys written during the backup: what the backup holds is a prefix `later-0` ..
        // `later-(n-1)` of the writer's sequence (one writer, each write acknowledged before
        // the next): every key acknowledged before the backup began, none missing below the
        // newest one restored, each with the material it had (its ciphertext opens).
        let restored = all_keys(&clients[0], "tenant-a", "later-").await;
        let restored: Vec<usize> = restored
            .iter()
            .map(|k| k.strip_prefix("later-").unwrap().parse().unwrap())
            .collect();
        let n = restored.iter().max().map_or(0, |m| m + 1);
        let failed_below = (0..n).filter(|i| !acked.iter().any(|a| a.n == *i));
        let expected: Vec<usize> = (0..n).filter(|i| acked.iter().any(|a| a.n == *i)).collect();
        let mut restored_acked = restored.clone();
        restored_acked.retain(|i| acked.iter().any(|a| a.n == *i));
        restored_acked.sort();
        assert_eq!(
            restored_acked,
            expected,
            "a hole in the restored writes (writes that failed below: {:?})",
            failed_below.collect::<Vec<_>>()
        );
        assert!(
            restored_acked.len() >= acked_before,
            "{} keys restored, {acked_before} acknowledged before the backup began",
            restored_acked.len()
        );
        // One write may have been in the backup and its acknowledgement still on the way.
        assert!(
            restored_acked.len() <= acked_by_end + 1,
            "{} keys restored, only {acked_by_end} acknowledged when the backup ended",
            restored_acked.len()
        );
        for later in acked.iter().filter(|a| a.n < n) {
            let name = format!("later-{}", later.n);
            if let Some(sealed) = &later.sealed {
                let opened = clients[later.n % 3]
                    .decrypt("tenant-a", &name, 0, sealed, b"")
                    .await
                    .unwrap();
                assert_eq!(opened.plaintext, name.as_bytes());
            }
        }
        eprintln!(
            "{} keys written under load ({acked_before} before the backup, {acked_by_end} by \
             its end), {} restored",
            acked.len(),
            restored_acked.len()
        );

        // The cluster takes writes again.
        clients[1]
            .create_key("tenant-c", "after-restore", "", false)
            .await
            .unwrap();
    });
    drop(fresh);
}

#[test]
fn damaged_foreign_and_misdirected_backups_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let source = Member::new(tmp.path(), "source");
    let node = source.start(&key);
    let root = node.root_api_key.clone();
    let out = cli(&node, &root, &["add-enclave", "e1"]);
    assert!(out.status.success());
    let file = tmp.path().join("b");
    let out = cli(&node, &root, &["backup", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let good = std::fs::read(&file).unwrap();

    // A node that holds state refuses any restore.
    let out = cli(
        &node,
        &root,
        &["restore", &source.addr, file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fresh single-node cluster"));

    let target = Member::new(tmp.path(), "target");
    let fresh = target.start(&key);
    let mut cases: HashMap<&str, Vec<u8>> = HashMap::new();
    cases.insert("truncated", good[..good.len() - 40].to_vec());
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    cases.insert("flipped", flipped);
    let mut mac_flipped = good.clone();
    let last = mac_flipped.len() - 1;
    mac_flipped[last] ^= 0x80;
    cases.insert("mac", mac_flipped);
    cases.insert("garbage", b"not a backup at all".to_vec());
    // A backup of a cluster with another HSM key.
    let other_key = soft_hsm_key();
    let other = Member::new(tmp.path(), "other");
    let other_node = other.start(&other_key);
    let other_file = tmp.path().join("other.backup");
    let out = cli(
        &other_node,
        &other_node.root_api_key,
        &["backup", other_file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cases.insert("foreign", std::fs::read(&other_file).unwrap());
    let expect = [
        ("truncated", "truncated"),
        ("flipped", "invalid backup"),
        ("mac", "does not authenticate"),
        ("garbage", "not a minkms backup"),
        ("foreign", "cannot unseal"),
    ];
    for (case, message) in expect {
        let path = tmp.path().join(case);
        std::fs::write(&path, &cases[case]).unwrap();
        let out = cli(
            &fresh,
            &root,
            &["restore", &target.addr, path.to_str().unwrap()],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{case}: {stderr}");
        assert!(stderr.contains(message), "{case}: {stderr}");
        // Unchanged: still fresh, nothing listed.
        let ls = cli(&fresh, &root, &["ls-enclave"]);
        assert!(
            !String::from_utf8_lossy(&ls.stdout).contains("e1"),
            "{case}"
        );
    }
    // And the good one still restores after all that.
    let out = cli(
        &fresh,
        &root,
        &["restore", &target.addr, file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ls = cli(&fresh, &root, &["ls-enclave"]);
    assert!(String::from_utf8_lossy(&ls.stdout).contains("e1"));
    drop((node, other_node));
}

/// `backup FILE` streams into `FILE.part`, the whole name kept: a backup to `state.bak` must
/// not touch the operator's `state.part`, and leaves no `.part` file behind.
#[test]
fn a_backup_streams_into_file_dot_part_and_leaves_other_files_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let member = Member::new(tmp.path(), "source");
    let node = member.start(&key);
    let root = node.root_api_key.clone();
    let theirs = tmp.path().join("state.part");
    std::fs::write(&theirs, b"someone else's file").unwrap();
    let file = tmp.path().join("state.bak");
    let out = cli(&node, &root, &["backup", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    assert_eq!(std::fs::read(&theirs).unwrap(), b"someone else's file");
    assert!(!tmp.path().join("state.bak.part").exists());
}
