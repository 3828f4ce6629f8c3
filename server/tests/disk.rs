//! A data volume that is nearly full: writes are refused with 507 and a message that says why,
//! reads are served, nothing is lost. A read-only volume: the node does not start, says why, and
//! changes nothing. A volume that fills up completely under a write (the check turned off) stops
//! the node; once space is freed it restarts with every acknowledged write and an intact
//! database.
//!
//! The volume is a 32 MiB tmpfs mounted inside a private mount namespace the test creates
//! (`unshare --mount`, which needs root, as in CI); outside CI, without root, it says it did
//! not run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use minkms_client::{Client, Error};
use minkms_testkit::{runtime, soft_hsm_key, Node};

const TEST: &str = "nearly_full_and_read_only_volumes_refuse_writes_and_lose_nothing";

fn sh(cmd: &str) {
    let status = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(status.success(), "{cmd}");
}

/// Bytes free on the filesystem of `dir`.
fn available(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

/// Fills the volume of `dir` with `dir/filler` until at most `leave` bytes are free (or no
/// byte more fits).
fn fill(dir: &Path, leave: u64) {
    use std::io::Write as _;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0x5a; 64 << 10];
    while available(dir) > leave {
        if f.write_all(&chunk).and_then(|()| f.sync_all()).is_err() {
            break;
        }
    }
}

fn start(dir: &Path, config: &Path, key: &str) -> Node {
    Node::launch(
        dir,
        &["--config", config.to_str().unwrap()],
        &[("MINIO_KMS_HSM_KEY", key)],
        Duration::from_secs(30),
    )
    .unwrap()
}

fn status_of(result: Result<(), Error>) -> Result<(), (u16, String)> {
    match result {
        Ok(()) => Ok(()),
        Err(Error::Api { status, message }) => Err((status, message)),
        Err(e) => Err((0, e.to_string())),
    }
}

async fn create(c: &Client, name: &str) -> Result<(), (u16, String)> {
    status_of(c.create_key("e", name, "", false).await)
}

#[test]
fn nearly_full_and_read_only_volumes_refuse_writes_and_lose_nothing() {
    if std::env::var_os("MINKMS_IN_MOUNTNS").is_none() {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        if !root {
            minkms_testkit::not_run(
                "the full-volume test (server/tests/disk.rs)",
                "needs root to mount a small tmpfs in a private mount namespace",
            );
            return;
        }
        let status = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env("MINKMS_IN_MOUNTNS", "1")
            .status()
            .unwrap();
        assert!(status.success(), "the test failed in its mount namespace");
        return;
    }

    let tmp = tempfile::tempdir().unwrap();
    let vol = tmp.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    sh(&format!(
        "mount -t tmpfs -o size=32m tmpfs {}",
        vol.display()
    ));
    let config = tmp.path().join("config.yaml");
    std::fs::write(&config, "version: v1\nlimits:\n  min_free_mib: 8\n").unwrap();
    let key = soft_hsm_key();
    // The node's directory is the volume itself (the test kit logs next to it, outside).
    let dir = vol.clone();
    let rt = runtime();
    let mut acked: Vec<String> = Vec::new();

    // Nearly full: refused with a reason, reads served; room again: taken.
    let node = start(&dir, &config, &key);
    let c = node.root();
    rt.block_on(async {
        c.create_enclave("e").await.unwrap();
        for i in 0..5 {
            let name = format!("k{i}");
            create(&c, &name).await.unwrap();
            acked.push(name);
        }
    });
    fill(&vol, 4 << 20);
    rt.block_on(async {
        let (status, message) = create(&c, "refused-full").await.unwrap_err();
        assert_eq!(status, 507, "{message}");
        assert!(
            message.contains("insufficient storage") && message.contains("MiB free"),
            "{message}"
        );
        c.key_status("e", "k0", 0).await.unwrap();
    });
    std::fs::remove_file(vol.join("filler")).unwrap();
    rt.block_on(async {
        create(&c, "after-full").await.unwrap();
        acked.push("after-full".into());
    });
    assert_eq!(node.terminate(), Some(0));

    // A read-only volume (a volume with the node's database open for writing cannot be
    // remounted read-only; the kernel does it on I/O errors): the node refuses to start,
    // says where and why, and the database is untouched. Writable again: it starts.
    let db = dir.join("kms.db");
    let before = std::fs::read(&db).unwrap();
    sh(&format!("mount -o remount,ro {}", vol.display()));
    let err = Node::launch(
        &dir,
        &["--config", config.to_str().unwrap()],
        &[("MINIO_KMS_HSM_KEY", &key)],
        Duration::from_secs(30),
    )
    .expect_err("a read-only volume");
    assert_eq!(err.code, Some(1));
    assert!(
        err.stderr.contains("cannot open the database in")
            && err.stderr.contains("Read-only file system"),
        "{}",
        err.stderr
    );
    assert!(std::fs::read(&db).unwrap() == before, "kms.db changed");
    sh(&format!("mount -o remount,rw {}", vol.display()));

    // Completely full, with the check off: the write that cannot be made durable stops the
    // node (an unknown outcome for its client), cleanly: the audit log, on another volume, has
    // the request that stopped it. Nothing acknowledged is lost.
    let audit = tmp.path().join("audit.log");
    std::fs::write(
        &config,
        format!(
            "version: v1\nlimits:\n  min_free_mib: 0\naudit:\n  path: {}\n",
            audit.display()
        ),
    )
    .unwrap();
    let mut node = start(&dir, &config, &key);
    let c = node.root();
    fill(&vol, 0);
    let failed = rt.block_on(async {
        // redb first reuses the free pages inside kms.db: it takes a few thousand writes
        // before one needs a page the volume does not have.
        for i in 0..20_000 {
            let name = format!("full-{i}");
            match create(&c, &name).await {
                Ok(()) => acked.push(name),
                Err(e) => {
                    eprintln!("disk: write {i} on the full volume failed: {e:?}");
                    return Some(name);
                }
            }
        }
        None
    });
    let failed = failed.expect("a write failed once the volume was full");
    let code = node.wait_exit(Duration::from_secs(10));
    let logs = node.logs();
    assert_eq!(code, Some(1), "the node stops:\n{logs}");
    assert!(
        logs.contains("stopping") || logs.contains("cannot apply"),
        "{logs}"
    );
    let audited = std::fs::read_to_string(&audit).unwrap();
    assert!(
        audited
            .lines()
            .any(|l| l.contains(&format!("\"{failed}\""))),
        "the audit log lacks the write that stopped the node ({failed}):\n{}",
        audited.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
    drop(node);
    std::fs::remove_file(vol.join("filler")).unwrap();
    let node = start(&dir, &config, &key);
    let c = node.root();
    rt.block_on(async {
        for name in &acked {
            c.key_status("e", name, 0)
                .await
                .unwrap_or_else(|e| panic!("acknowledged key {name} lost: {e}"));
        }
        create(&c, "after-restart").await.unwrap();
    });
    assert_eq!(node.terminate(), Some(0));
    sh(&format!("umount {}", vol.display()));
}
