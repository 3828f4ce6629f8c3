//! Backup and restore throughput (`cargo bench -p minkms --bench backup`): a node's state of
//! `MINKMS_BENCH_KEYS` keys (default 1,000,000) is built directly in its `kms.db` (group commits
//! of 10,000 keys: building it through the API would measure key creation, not backups), then a
//! release `minkms` serves it and the benchmark times, over HTTPS on loopback:
//!
//! - `GET /v1/db` (what `minkms backup` does): the whole backup received by the client;
//! - `PUT /v1/db` (what `minkms restore` does) onto a fresh node: until it answers, i.e. the file
//!   checked whole, every record opened, and everything written in one transaction.
//!
//! Reported as MB/s and keys/s. Without `--bench` (`cargo test --benches`) it is a smoke run of
//! 2,000 keys.

mod common;

use std::time::Instant;

use common::{build_keystore, key_name};
use minkms_testkit::{client_for as client, free_port, runtime, soft_hsm_key, Member, Node};

fn start(dir: &std::path::Path, key: &str) -> (Node, String) {
    let member = Member::at(dir.to_path_buf(), format!("127.0.0.1:{}", free_port()));
    let node = member.start_with(key, &[("MINIO_KMS_LOG_LEVEL", "warn")]);
    (node, member.addr)
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let keys: usize = if smoke {
        2_000
    } else {
        std::env::var("MINKMS_BENCH_KEYS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000)
    };
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let source = tmp.path().join("source");
    build_keystore(&source, &key, keys);
    let rt = runtime();
    let (node, addr) = start(&source, &key);
    let root = node.root_api_key.clone();
    let c = client(&addr, &root);
    let started = Instant::now();
    let mut backup = Vec::new();
    let size = rt
        .block_on(c.backup(|chunk| {
            backup.extend_from_slice(chunk);
            Ok(())
        }))
        .unwrap();
    let backup_secs = started.elapsed().as_secs_f64();
    assert_eq!(size as usize, backup.len());

    let (fresh, fresh_addr) = start(&tmp.path().join("target"), &key);
    let f = client(&fresh_addr, &root);
    let started = Instant::now();
    rt.block_on(f.restore(backup.into())).unwrap();
    let restore_secs = started.elapsed().as_secs_f64();
    // Spot checks: the first and last keys are there.
    rt.block_on(async {
        for i in [0, keys - 1] {
            f.key_status("bench", &key_name(i), 0).await.unwrap();
        }
    });
    let mb = size as f64 / 1e6;
    let line = |what: &str, secs: f64| {
        println!(
            "{what:<8} {keys} keys, {mb:.1} MB in {secs:.2} s: {:.1} MB/s, {:.0} keys/s",
            mb / secs,
            keys as f64 / secs
        );
    };
    line("backup", backup_secs);
    line("restore", restore_secs);
    println!(
        "{}",
        serde_json::json!([
            {"bench": "backup", "keys": keys, "bytes": size, "seconds": backup_secs,
             "mb_per_s": mb / backup_secs, "keys_per_s": keys as f64 / backup_secs},
            {"bench": "restore", "keys": keys, "bytes": size, "seconds": restore_secs,
             "mb_per_s": mb / restore_secs, "keys_per_s": keys as f64 / restore_secs},
        ])
    );
    drop((node, fresh));
}
